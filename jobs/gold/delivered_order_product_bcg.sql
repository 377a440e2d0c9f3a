-- table: gold.delivered_order_product_bcg
-- Delivered items of the BCG category with their (product, seller)'s segment: once in the
-- quarter of delivery with that quarter's segment, once in ALL with the overall segment.
-- Joining on product and seller (the BCG key) cannot fan out.
-- scope: period IN (SELECT period FROM touched_periods)
-- check error not_null: period, order_id, order_item_id, segment
-- check error unique: period, order_id, order_item_id
-- check error references: period, product_id, seller_id -> health_beauty_sales_stats_bcg(period, product_id, seller_id)
WITH items AS (
    SELECT period, order_id, order_item_id, product_id, category, seller_id, price,
           freight_value, total_price, delivered_customer
    FROM delivered_items
    UNION ALL
    SELECT 'ALL' AS period, order_id, order_item_id, product_id, category, seller_id, price,
           freight_value, total_price, delivered_customer
    FROM delivered_items
)
SELECT i.period,
       i.order_id,
       i.order_item_id,
       i.product_id,
       i.category,
       i.seller_id,
       i.price,
       i.freight_value,
       i.total_price,
       i.delivered_customer,
       b.segment
FROM items i
JOIN health_beauty_sales_stats_bcg b
  ON b.period = i.period AND b.product_id = i.product_id AND b.seller_id = i.seller_id
