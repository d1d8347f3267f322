{#-
    Incremental shop models (docs/incremental.md). Each run finds what changed by the lake's
    ingestion time, not by order date: every raw row carries `_ingested_at`, strictly increasing per
    ingested file, so the rows ingested since a model's last build are the newest files (Parquet
    statistics prune the rest on DuckDB, micro-partitions on Snowflake). The model then recomputes
    the rows of the keys those files touch, compares them with the rows it holds, and replaces only
    the keys whose rows differ: a build with nothing new ingested changes no row, even inside the
    lookback window.
-#}

{#-
    The first ingestion time an incremental model re-reads, as a literal: the newest `ingested_at`
    it holds minus the `shop_lookback_hours` var, so rows that became visible late with an older
    ingestion time (a table promoted to Snowflake a night after the others) still count. Queried
    when the model runs, so the filters it lands in are constants that prune files.
-#}
{% macro shop_changes_since() -%}
    {%- if not execute -%}
        {{ return("cast('1900-01-01' as " ~ dbt.type_timestamp() ~ ")") }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {%- if 'ingested_at' not in columns -%}
        {{ exceptions.raise_compiler_error(
            this ~ " was built before it became incremental (it has no ingested_at column): rebuild it once"
            ~ " with `shoplake transform --full-refresh` (docs/incremental.md)"
        ) }}
    {%- endif -%}
    {%- set newest = run_query("select max(ingested_at) from " ~ this).columns[0].values()[0] -%}
    {%- if newest is none -%}
        {{ return("cast('1900-01-01' as " ~ dbt.type_timestamp() ~ ")") }}
    {%- endif -%}
    {%- set since = newest - modules.datetime.timedelta(hours=var('shop_lookback_hours')) -%}
    {{ return("cast('" ~ since.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as " ~ dbt.type_timestamp() ~ ")") }}
{%- endmacro %}

{#-
    The orders whose rows may have changed since `since`: orders with a header or line ingested
    since then, every order a changed line ever belonged to (a line moved to another order leaves
    its old order), and the orders holding a product whose row changed (its category).
-#}
{% macro changed_orders(since) -%}
    {#- Products are few: their changed ids are looked up first and inlined, so a build with no
        product change never scans the order lines for them. -#}
    {%- set changed_products = [] -%}
    {%- if execute -%}
        {%- set found = run_query("select product_id from " ~ ref('stg_shop__products')
            ~ " where ingested_at > " ~ since) -%}
        {%- set changed_products = found.columns[0].values() | list -%}
    {%- endif -%}
    select order_id
    from {{ ref('stg_shop__order_changes') }}
    where ingested_at > {{ since }}

    union

    select order_id
    from {{ ref('stg_shop__order_changes') }}
    where order_item_id in (
        select order_item_id
        from {{ ref('stg_shop__order_changes') }}
        where ingested_at > {{ since }} and order_item_id is not null
    )

    {%- if changed_products %}

    union

    select order_id
    from {{ ref('stg_shop__order_items') }}
    where product_id in (
        {%- for product_id in changed_products -%}
            {{ "'" ~ (product_id | replace("'", "''")) ~ "'" if product_id is string else product_id }}{{ ', ' if not loop.last }}
        {%- endfor -%}
    )
    {%- endif %}
{%- endmacro %}

{#-
    The business dates (as `sales_date`) of the orders in `orders` (a query of order_id): every date
    any ingested version of them had, so a corrected order date rebuilds the old day and the new one.
-#}
{% macro order_dates(orders) -%}
    select distinct order_date as sales_date
    from {{ ref('stg_shop__order_changes') }}
    where
        order_date is not null
        and order_id in ({{ orders }})
{%- endmacro %}

{#-
    The business dates (as `sales_date`) a per-category daily model (keyed by day) must rebuild:
    the days of the orders changed since `since`, and every day it holds when a category changed
    (its name is on every row of its days).
-#}
{% macro category_changed_days(since) -%}
    {{ order_dates(changed_orders(since)) }}

    union

    select distinct previous.sales_date
    from {{ this }} as previous
    where exists (
        select 1 from {{ ref('stg_shop__categories') }} as categories
        where categories.ingested_at > {{ since }}
    )
{%- endmacro %}

{#-
    The end of an incremental model: on an incremental run, of the `rows` (a CTE holding the
    recomputed rows of the candidate keys in `candidates`, a CTE with a column `key`), only the
    keys whose rows differ from what the model holds (in either direction), each with its new rows
    or, when none is left, one row with every other column null that the `replace_keys` strategy
    uses to delete the key. Otherwise all the rows.
-#}
{% macro replace_changed_rows(rows, key, candidates) -%}
    {%- if is_incremental() %},

previous as (

    select * from {{ this }}
    where {{ key }} in (select {{ key }} from {{ candidates }})

),

changed as (

    select added.{{ key }}
    from (
        select * from {{ rows }}
        except
        select * from previous
    ) as added

    union

    select removed.{{ key }}
    from (
        select * from previous
        except
        select * from {{ rows }}
    ) as removed

)

select
    changed.{{ key }},
    {{ rows }}.* exclude ({{ key }})

from changed
left join {{ rows }}
    on changed.{{ key }} = {{ rows }}.{{ key }}
    {%- else %}

select * from {{ rows }}
    {%- endif %}
{%- endmacro %}

{#-
    Custom incremental strategy `replace_keys` (both targets): delete every row of the keys in the
    new batch, then insert the batch's rows except the key-only rows `replace_changed_rows` emits
    for a key that has no rows left. dbt's delete+insert cannot remove such a key.
-#}
{% macro get_incremental_replace_keys_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- if key is not string -%}
        {{ exceptions.raise_compiler_error("replace_keys takes one unique_key column, got " ~ key) }}
    {%- endif -%}
    {%- set columns = arg_dict['dest_columns'] -%}
    {%- set names = get_quoted_csv(columns | map(attribute='name')) -%}
    {%- set others = columns | rejectattr('name', 'in', [key, key | upper]) | list -%}
    delete from {{ target }}
    where {{ key }} in (select {{ key }} from {{ source }});

    insert into {{ target }} ({{ names }})
    select {{ names }}
    from {{ source }}
    where not (
        {%- for column in others %}
        {{ adapter.quote(column.name) }} is null{{ ' and' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}
