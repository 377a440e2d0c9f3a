-- table: gold.delivery_monitor
-- Every order open at {as_of} (purchased, not delivered, not canceled or unavailable), from
-- the bronze rows ingested before it, so a backfilled run shows the state of its own day.
-- stage: the furthest reached of awaiting_approval (since purchase), awaiting_carrier (since
-- approval) and in_transit (since handed to the carrier). days_overdue = as_of's date - the estimate's date (> 0: late).
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
WITH open_orders AS (
    SELECT order_id,
           -- the furthest stage reached: a carrier time without an approval time (both
           -- exist in the data) is in transit, not awaiting approval
           CASE
               WHEN delivered_carrier IS NOT NULL THEN 'in_transit'
               WHEN approved IS NOT NULL THEN 'awaiting_carrier'
               ELSE 'awaiting_approval'
           END AS stage,
           CASE
               WHEN delivered_carrier IS NOT NULL THEN delivered_carrier
               WHEN approved IS NOT NULL THEN approved
               ELSE purchase
           END AS stage_entered_at
    FROM status_first
    WHERE purchase IS NOT NULL AND delivered_customer IS NULL AND canceled_at IS NULL
),
-- (the first row of each order in (order_id, order_item_id) order: one window over the
-- sorted items of the open orders, cheaper than a window partitioned by order)
first_item AS (
    SELECT order_id, product_id, seller_id FROM (
        SELECT order_id, product_id, seller_id,
               lag(order_id) OVER (ORDER BY order_id, order_item_id) AS _previous_order
        FROM latest_order_item
        WHERE order_id IN (SELECT order_id FROM open_orders))
    WHERE order_id IS DISTINCT FROM _previous_order
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
LEFT JOIN latest_estimated_delivery e ON e.order_id = o.order_id
LEFT JOIN first_item i ON i.order_id = o.order_id
LEFT JOIN latest_product p ON p.product_id = i.product_id
LEFT JOIN overall_segment s ON s.product_id = i.product_id AND s.seller_id = i.seller_id
