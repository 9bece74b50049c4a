{% macro open_items_ageing(party_kind) -%}
    {#- The ageing of one subledger (`party_kind`: supplier or customer): the open amounts of its
        open items per set of books × party, by the days since the document's date on the
        build's business day (its start, in the company's time zone). The buckets are
        stockflow.finance.AGEING_BUCKETS: 0-30, 31-60, 61-90 and over 90 days; a document dated
        after that day is 0 days old; a credit (a negative open amount) counts where it is
        dated; a settled item (open amount 0) counts nowhere, so a party with nothing open has
        no row. -#}
with as_of as (
    select cast(timezone('{{ var("timezone") }}', started_at) as date) as as_of_date
    from build_info
),

aged as (
    select
        i.accounting_unit,
        i.party,
        i.open_amount,
        greatest(date_diff('day', i.document_date, a.as_of_date), 0) as days_old,
        a.as_of_date
    from {{ ref('stg_books__open_items') }} as i
    cross join as_of as a
    where i.party_kind = '{{ party_kind }}' and i.open_amount <> 0
)

select
    accounting_unit,
    party,
    coalesce(sum(open_amount) filter (where days_old <= 30), 0) as bucket_0_30,
    coalesce(sum(open_amount) filter (where days_old between 31 and 60), 0) as bucket_31_60,
    coalesce(sum(open_amount) filter (where days_old between 61 and 90), 0) as bucket_61_90,
    coalesce(sum(open_amount) filter (where days_old > 90), 0) as bucket_over_90,
    sum(open_amount) as total,
    as_of_date
from aged
group by accounting_unit, party, as_of_date
{%- endmacro %}
