-- table: gold.delivered_order_product_bcg
-- Delivered items of the BCG category, one row per item: in the quarter of its delivery, with
-- its (product, seller)'s segment in that quarter (`segment`) and over the whole history
-- (`segment_all`, the ALL period's). Summing the table counts each sale once.
-- Joining on product and seller (the BCG key) cannot fan out.
-- Any new sale can move the ALL thresholds and so any item's segment_all: every run that
-- touches a period rewrites the table (one category's items: small beside silver), and a run
-- that touches none leaves it. The items of the quarters the run does not touch are the
-- table's, as they are (`bcg_items_kept`), with segment_all joined again.
-- scope: EXISTS (SELECT 1 FROM touched_periods)
-- check error not_null: period, order_id, order_item_id, segment, segment_all
-- check error unique: order_id, order_item_id
-- check error references: period, product_id, seller_id -> health_beauty_sales_stats_bcg(period, product_id, seller_id)
-- check error expect: period <> 'ALL'
WITH items AS (
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
           q.segment
    FROM delivered_items i
    JOIN health_beauty_sales_stats_bcg q
      ON q.period = i.period AND q.product_id = i.product_id AND q.seller_id = i.seller_id
    UNION ALL
    SELECT * FROM bcg_items_kept
)
SELECT i.*, a.segment AS segment_all
FROM items i
JOIN health_beauty_sales_stats_bcg a
  ON a.period = 'ALL' AND a.product_id = i.product_id AND a.seller_id = i.seller_id
