-- Figures gold-bcg adds to its run summary: the portfolio over the whole history (ALL) by
-- segment, and the number of periods and products in it.

-- name: segments
SELECT segment, count(*) AS products, sum(order_count) AS items, sum(total_sales) AS sales
FROM health_beauty_sales_stats_bcg WHERE period = 'ALL'
GROUP BY segment ORDER BY segment;

-- name: portfolio
SELECT count(DISTINCT period) AS periods,
       count(DISTINCT product_id) AS products,
       max(order_count_p75) FILTER (WHERE period = 'ALL') AS all_order_count_p75,
       max(mean_sale_median) FILTER (WHERE period = 'ALL') AS all_mean_sale_median
FROM health_beauty_sales_stats_bcg;
