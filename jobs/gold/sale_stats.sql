-- table: gold.sale_stats
-- Sales per (period, product, category, seller) over delivered items: period is the calendar
-- quarter of delivered_customer (`2017-Q4`), and `ALL` holds the whole history.
-- order_count = item rows, total_sales = sum of total_price, mean_sale = total / count
-- (rounded half away from zero to 4 places).
-- scope: period IN (SELECT period FROM touched_periods)
-- check error not_null: period, product_id, seller_id, order_count, total_sales, mean_sale
-- check error unique: period, product_id, seller_id
-- check error expect: order_count > 0
-- check error expect: mean_sale > 0
-- check warn not_null: category
WITH items AS (
    SELECT period, product_id, category, seller_id, total_price FROM delivered_items
    UNION ALL
    SELECT 'ALL' AS period, product_id, category, seller_id, total_price FROM delivered_items
)
SELECT period,
       product_id,
       category,
       seller_id,
       count(*) AS order_count,
       sum(total_price) AS total_sales,
       mean_of(sum(total_price), count(*)) AS mean_sale
FROM items
WHERE period IS NOT NULL AND product_id IS NOT NULL AND seller_id IS NOT NULL
  AND total_price IS NOT NULL
GROUP BY period, product_id, category, seller_id
