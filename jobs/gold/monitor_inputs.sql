-- Inputs of gold-leadtime's delivery monitor: the orders open at {as_of}, with the stage each
-- has reached. Materialised once: the monitor reads them three times (its rows, and the item
-- and estimate copies it picks for them), and each read of status_first would aggregate the
-- statuses of every order again.
-- stage: the furthest reached of awaiting_approval (since purchase), awaiting_carrier (since
-- approval) and in_transit (since handed to the carrier); a carrier time without an approval
-- time (both exist in the data) is in transit, not awaiting approval.

CREATE TABLE open_orders AS
SELECT order_id,
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
WHERE purchase IS NOT NULL AND delivered_customer IS NULL AND canceled_at IS NULL;

-- The copies of the open orders' items and estimates, among which the monitor picks the
-- latest: a few thousand rows to sort instead of every order's. (Filtered inside the monitor,
-- the filter would come after the sort: DataFusion pushes a window's sort below a semi-join,
-- as the join keeps its input's order.)
CREATE TABLE open_order_items AS
SELECT order_id, order_item_id, product_id, seller_id, ingest_time, _kafka_partition, _kafka_offset
FROM bronze.order_item
WHERE order_item_id IS NOT NULL AND {known} AND order_id IN (SELECT order_id FROM open_orders);

CREATE TABLE open_order_estimates AS
SELECT order_id, estimated_delivery_date, ingest_time, _kafka_partition, _kafka_offset
FROM bronze.estimated_delivery_date
WHERE {known} AND order_id IN (SELECT order_id FROM open_orders);

-- and of their products (any copy's: a product's copies are kept or left out together, so
-- each kept product's latest copy is the same)
CREATE TABLE open_order_products AS
SELECT product_id, category, ingest_time, _kafka_partition, _kafka_offset
FROM bronze.product
WHERE {known} AND product_id IN (SELECT product_id FROM open_order_items);

-- The monitor's segments are computed here from every delivered item of the category in this
-- run's silver snapshot (never from gold-bcg's tables, which it runs beside): no row of the
-- table is replaced, ALL is the sum of the quarters.
CREATE VIEW sale_stats_replaced AS
SELECT period, product_id, category, seller_id, order_count, total_sales
FROM (SELECT period, product_id, category, seller_id,
             count(*) AS order_count, sum(total_price) AS total_sales
      FROM delivered_items GROUP BY period, product_id, category, seller_id)
WHERE FALSE;
