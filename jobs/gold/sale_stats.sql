-- table: gold.sale_stats
-- Sales per (period, product, category, seller) over delivered items: period is the calendar
-- quarter of delivered_customer (`2017-Q4`), and `ALL` holds the whole history.
-- order_count = item rows, total_sales = sum of total_price, mean_sale = total / count
-- (rounded half away from zero to 4 places).
-- The quarters come from the run's delivered items (those of the touched quarters on an
-- interval run of gold-bcg); ALL adds them to the table's ALL rows less its rows of the same
-- quarters (`sale_stats_replaced`, see bcg_kept.sql; empty on a full refresh), so ALL is exact
-- without reading every item or every quarter. A (product, seller) whose every sale left the
-- touched quarters is left out of ALL (count 0), as a full refresh would not have it.
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
-- + this run's quarters, + the table's ALL, - the table's rows of this run's quarters
deltas AS (
    SELECT product_id, category, seller_id, order_count, total_sales FROM quarters
    UNION ALL
    SELECT product_id, category, seller_id,
           CASE WHEN period = 'ALL' THEN order_count ELSE -order_count END,
           CASE WHEN period = 'ALL' THEN total_sales ELSE -total_sales END
    FROM sale_stats_replaced
),
sums AS (
    SELECT period, product_id, category, seller_id, order_count, total_sales FROM quarters
    UNION ALL
    SELECT 'ALL' AS period, product_id, category, seller_id,
           sum(order_count) AS order_count, sum(total_sales) AS total_sales
    FROM deltas
    GROUP BY product_id, category, seller_id
    HAVING sum(order_count) <> 0
)
SELECT period,
       product_id,
       category,
       seller_id,
       order_count,
       total_sales,
       mean_of(total_sales, order_count) AS mean_sale
FROM sums
