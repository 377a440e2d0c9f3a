-- table: gold.delivery_monitor
-- Every order open at {as_of} (purchased, not delivered, not canceled or unavailable), from
-- the bronze rows ingested before it, so a backfilled run shows the state of its own day.
-- stage: the furthest stage reached (see monitor_inputs.sql). days_overdue = as_of's date -
-- the estimate's date (> 0: late).
-- category and segment are those of the order's first item (its product's latest category
-- and the (product, seller)'s overall segment), where known. The segment is computed in this
-- job from the same silver snapshot (gold-leadtime borrows gold-bcg's two models), so the
-- monitor never depends on when gold-bcg last committed.
-- scope: all
-- check error not_null: as_of, order_id, stage, stage_entered_at, hours_in_stage
-- check error unique: order_id
-- check error accepted: stage IN ('awaiting_approval', 'awaiting_carrier', 'in_transit')
-- check error expect: stage_entered_at <= as_of
-- check warn not_null: estimated_delivery_date
-- The latest copy of each open order's items and estimate, and of its first item's product,
-- is picked as staging.sql picks it (the greatest (ingest_time, partition, offset), a null
-- ingest_time first), but among the open orders' copies only (monitor_inputs.sql). (A window
-- partitioned by key costs ~2.5 µs per key, nothing at this size.)
WITH first_item AS (
    -- the latest copy of each order's lowest order_item_id
    SELECT order_id, product_id, seller_id FROM (
        SELECT order_id, product_id, seller_id,
               row_number() OVER (PARTITION BY order_id ORDER BY order_item_id,
                   ingest_time DESC NULLS FIRST, _kafka_partition DESC, _kafka_offset DESC) AS nth
        FROM open_order_items)
    WHERE nth = 1
),
estimate AS (
    SELECT order_id, estimated_delivery_date FROM (
        SELECT order_id, estimated_delivery_date,
               row_number() OVER (PARTITION BY order_id ORDER BY
                   ingest_time DESC NULLS FIRST, _kafka_partition DESC, _kafka_offset DESC) AS nth
        FROM open_order_estimates)
    WHERE nth = 1
),
product AS (
    SELECT product_id, category FROM (
        SELECT product_id, category,
               row_number() OVER (PARTITION BY product_id ORDER BY
                   ingest_time DESC NULLS FIRST, _kafka_partition DESC, _kafka_offset DESC) AS nth
        FROM open_order_products)
    WHERE nth = 1
),
overall_segment AS (
    SELECT product_id, seller_id, segment
    FROM health_beauty_sales_stats_bcg
    WHERE period = 'ALL'
)
SELECT {as_of} AS as_of,
       o.order_id,
       o.stage,
       o.stage_entered_at,
       hours_between({as_of}, o.stage_entered_at) AS hours_in_stage,
       e.estimated_delivery_date,
       days_between({as_of}, e.estimated_delivery_date) AS days_overdue,
       p.category,
       s.segment
FROM open_orders o
LEFT JOIN estimate e ON e.order_id = o.order_id
LEFT JOIN first_item i ON i.order_id = o.order_id
LEFT JOIN product p ON p.product_id = i.product_id
LEFT JOIN overall_segment s ON s.product_id = i.product_id AND s.seller_id = i.seller_id
