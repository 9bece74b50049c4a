-- Accounts payable ageing: what the books owe each supplier, per set of books, by the age of
-- the documents (the macro states the buckets and the day they are counted on).
{{ open_items_ageing('supplier') }}
