{% test vouchers_balance(model) %}
-- Debits equal credits on every voucher.
select voucher_id, sum(debit) as debit, sum(credit) as credit
from {{ model }}
group by voucher_id
having sum(debit) <> sum(credit)
{% endtest %}
