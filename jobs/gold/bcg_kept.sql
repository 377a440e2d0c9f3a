-- gold-bcg's interval runs compute the touched quarters only, and each (product, seller)'s
-- ALL period from the table's ALL row: ALL is the sum of the quarters (a full refresh writes
-- it so, and every interval run keeps it so), so the new ALL is the old one minus the touched
-- quarters' old rows plus their new ones, exact in integers and decimals, without reading
-- the quarters no input of which changed (a change to an item touches every quarter it was or
-- is in). `sales_replaced` is the touched periods (ALL among them), or FALSE on a full
-- refresh, which reads every item.

CREATE TABLE sale_stats_replaced AS
SELECT period, product_id, category, seller_id, order_count, total_sales
FROM gold.sale_stats
WHERE {sales_replaced};

-- The BCG items of the quarters the run does not touch: their segment in the quarter stands;
-- segment_all is joined again to the new ALL period. `sales_kept` is those quarters (FALSE on
-- a full refresh).
CREATE TABLE bcg_items_kept AS
SELECT period, order_id, order_item_id, product_id, category, seller_id, price,
       freight_value, total_price, delivered_customer, segment
FROM gold.delivered_order_product_bcg
WHERE {sales_kept};
