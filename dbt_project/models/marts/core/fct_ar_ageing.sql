-- Accounts receivable ageing: what each customer owes, per set of books, by the age of the
-- documents (the macro states the buckets and the day they are counted on).
{{ open_items_ageing('customer') }}
