-- table: gold.sale_stats
-- Sales per (period, product, category, seller) over delivered items: period is the calendar
-- quarter of delivered_customer (`2017-Q4`), and `ALL` holds the whole history.
-- order_count = item rows, total_sales = sum of total_price, mean_sale = total / count
-- (rounded half away from zero to 4 places).
-- The quarters come from the run's delivered items (those of the touched quarters on an
-- interval run of gold-bcg); ALL sums them with the quarters the run keeps
-- (`sale_stats_kept`, see bcg_kept.sql), so ALL is exact without reading every item.
-- scope: period IN (SELECT period FROM touched_periods)
-- check error not_null: period, product_id, seller_id, order_count, total_sales, mean_sale
-- check error unique: period, product_id, seller_id
-- check error expect: order_count > 0
-- check error expect: mean_sale > 0
-- check warn not_null: category
WITH quarters AS (
    SELECT period, product_id, category, seller_id,
           count(*) AS order_count, sum(total_price) AS total_sales
    FROM delivered_items
    WHERE period IS NOT NULL AND product_id IS NOT NULL AND seller_id IS NOT NULL
      AND total_price IS NOT NULL
    GROUP BY period, product_id, category, seller_id
),
every_quarter AS (
    SELECT period, product_id, category, seller_id, order_count, total_sales FROM sale_stats_kept
    UNION ALL
    SELECT period, product_id, category, seller_id, order_count, total_sales FROM quarters
),
sums AS (
    SELECT period, product_id, category, seller_id, order_count, total_sales FROM quarters
    UNION ALL
    SELECT 'ALL' AS period, product_id, category, seller_id,
           sum(order_count) AS order_count, sum(total_sales) AS total_sales
    FROM every_quarter
    GROUP BY product_id, category, seller_id
)
SELECT period,
       product_id,
       category,
       seller_id,
       order_count,
       total_sales,
       mean_of(total_sales, order_count) AS mean_sale
FROM sums
