-- Inputs of gold-bcg: delivered items with the calendar quarter of their delivery, and the
-- sales periods a run touches (the quarters of the touched orders' and products' delivered
-- items, plus ALL whenever any quarter is touched). Both are materialised once: the items are
-- read four times (the touched periods, sale_stats' quarters and ALL, the BCG items) and the
-- periods by every model's scope twice (its new rows and the table's), and each read of a view
-- would scan silver again.

CREATE TABLE delivered_items AS
SELECT *, quarter_of(delivered_customer) AS period
FROM silver.delivered_order_product;

-- A touched order's items may have been counted in another quarter before: a delivery
-- re-stamped by an earlier event moves them. Every time a delivery of the order was stamped
-- with is in bronze (the state keeps each one), so their quarters are all rewritten.
CREATE TABLE touched_quarters AS
SELECT DISTINCT period FROM delivered_items
WHERE order_id IN (SELECT order_id FROM touched_orders)
   OR product_id IN (SELECT product_id FROM touched_products)
UNION
SELECT quarter_of("timestamp") AS period FROM bronze.order_status
WHERE status = 'delivered_customer' AND "timestamp" IS NOT NULL
  AND order_id IN (SELECT order_id FROM touched_orders);

CREATE TABLE touched_periods AS
SELECT period FROM touched_quarters
UNION SELECT 'ALL' AS period FROM touched_quarters;
