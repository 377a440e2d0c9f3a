-- Inputs of the gold jobs: the sales periods a run touches, and the delivered items it reads.
--
-- A period is touched when an item in it may have changed: the quarters of every time a
-- touched order's delivery was stamped with (a delivery re-stamped by an earlier event moves
-- the order's items, so the quarter they were counted in before is rewritten too; the state
-- keeps each time), and of the orders holding an item of a touched product (a category
-- change moves its sales in every quarter it sold in), plus ALL whenever any quarter is.
-- These come from bronze (the state), not silver, so silver is then read for those quarters
-- only: `sales_read` is their `delivered_customer` ranges (see the runner), the category's
-- items where only its segments are needed (gold-leadtime's monitor: the sales are grouped
-- by category, so its rows are the same from its items alone), or TRUE where every item is
-- needed (a full refresh).
-- Materialised once: the items are read by several models, the periods by every scope twice.
-- A full refresh (`interval_run` FALSE) rewrites every period and touches none.

-- The orders whose delivery quarters are touched (the touched orders, and the orders holding
-- an item of a touched product), then every quarter their deliveries were stamped with, each
-- marked whether a touched order was stamped in it (`own`: gold-leadtime's lead times need
-- those only): one pass over the delivery stamps serves both sets.
CREATE TABLE quarter_orders AS
SELECT order_id FROM touched_orders
UNION
SELECT order_id FROM bronze.order_item
WHERE {interval_run} AND product_id IN (SELECT product_id FROM touched_products);

CREATE TABLE stamped_quarters AS
SELECT DISTINCT quarter_of(s."timestamp") AS period, t.order_id IS NOT NULL AS own
FROM (SELECT order_id, "timestamp" FROM bronze.order_status
      WHERE {interval_run} AND status = 'delivered_customer' AND "timestamp" IS NOT NULL
        AND order_id IN (SELECT order_id FROM quarter_orders)) s
LEFT JOIN touched_orders t ON t.order_id = s.order_id;

CREATE TABLE delivery_quarters AS
SELECT DISTINCT period FROM stamped_quarters WHERE own;

CREATE TABLE touched_quarters AS
SELECT DISTINCT period FROM stamped_quarters;

CREATE TABLE touched_periods AS
SELECT period FROM touched_quarters
UNION SELECT 'ALL' AS period FROM touched_quarters;

CREATE TABLE delivered_items AS
SELECT *, quarter_of(delivered_customer) AS period
FROM silver.delivered_order_product
WHERE {sales_read};
