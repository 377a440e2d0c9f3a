-- gold-bcg sums each (product, seller)'s ALL period from its quarters: the quarters this run
-- recomputes, and the table's other quarters as they are (no input of theirs changed: a
-- change to an item touches every quarter it was or is in), read once here. `sales_kept` is
-- FALSE on a full refresh, which reads every item.

CREATE TABLE sale_stats_kept AS
SELECT period, product_id, category, seller_id, order_count, total_sales
FROM gold.sale_stats
WHERE {sales_kept};

-- The BCG items of those quarters: their segment in the quarter stands; segment_all is
-- joined again to the new ALL period.
CREATE TABLE bcg_items_kept AS
SELECT period, order_id, order_item_id, product_id, category, seller_id, price,
       freight_value, total_price, delivered_customer, segment
FROM gold.delivered_order_product_bcg
WHERE {sales_kept};
