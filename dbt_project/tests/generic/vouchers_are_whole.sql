{% test vouchers_are_whole(model) %}
-- Every voucher's lines: debits equal credits, the lines are numbered 1..n once each (so
-- (voucher_id, line_no) is unique), and the voucher itself was posted (its books are known).
-- One pass grouped by voucher instead of one per check: these are the largest facts.
select
    voucher_id,
    sum(debit) as debit,
    sum(credit) as credit,
    count(*) as lines,
    count(distinct line_no) as line_numbers,
    min(line_no) as first_line,
    max(line_no) as last_line,
    count(accounting_unit) as lines_with_books
from {{ model }}
group by voucher_id
having sum(debit) <> sum(credit)
    or count(distinct line_no) <> count(*)
    or min(line_no) <> 1
    or max(line_no) <> count(*)
    or count(accounting_unit) <> count(*)
{% endtest %}
