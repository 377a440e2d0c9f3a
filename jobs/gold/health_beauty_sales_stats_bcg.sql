-- table: gold.health_beauty_sales_stats_bcg
-- The BCG portfolio of one category ({category}, default health_beauty) per period.
-- Per period: T = 75th percentile of order_count, M = median of mean_sale, both exact with
-- linear interpolation between closest ranks (Hyndman & Fan type 7, the default of numpy,
-- pandas and Spark's percentile): with the n values sorted, h = (n - 1) * p,
-- value = x[floor(h) + 1] + (h - floor(h)) * (x[floor(h) + 2] - x[floor(h) + 1]) (1-based).
-- The comparisons are made in integers scaled by 4 (T) and 2 (M), so no rounding enters:
--   order_count >= T and mean_sale >= M  -> Star Products
--   order_count >= T and mean_sale <  M  -> Volume Drivers
--   order_count <  T and mean_sale >= M  -> Niche Gems
--   otherwise                            -> Question Marks
-- Ties sit on the same side of a threshold.
-- scope: period IN (SELECT period FROM touched_periods)
-- check error not_null: period, product_id, seller_id, segment
-- check error unique: period, product_id, seller_id
-- check error accepted: segment IN ('Star Products', 'Volume Drivers', 'Niche Gems', 'Question Marks')
-- check error references: period, product_id, seller_id -> sale_stats(period, product_id, seller_id)
-- check error expect: mean_sale > 0
WITH portfolio AS (
    SELECT * FROM sale_stats WHERE category = {category}
),
ranked AS (
    SELECT period, order_count, mean_sale,
           row_number() OVER (PARTITION BY period ORDER BY order_count) AS count_rank,
           row_number() OVER (PARTITION BY period ORDER BY mean_sale) AS mean_rank,
           count(*) OVER (PARTITION BY period) AS n
    FROM portfolio
),
-- (n - 1) * 3 / 4 and (n - 1) / 2 split into whole rank and remainder, in integers.
positions AS (
    SELECT period, n,
           1 + ((n - 1) * 3) / 4 AS count_lo, ((n - 1) * 3) % 4 AS count_rem,
           1 + (n - 1) / 2 AS mean_lo, (n - 1) % 2 AS mean_rem
    FROM ranked GROUP BY period, n
),
thresholds AS (
    SELECT p.period,
           -- 4 * T
           4 * max(CASE WHEN r.count_rank = p.count_lo THEN r.order_count END)
             + p.count_rem * (
                 coalesce(max(CASE WHEN r.count_rank = p.count_lo + 1 THEN r.order_count END),
                          max(CASE WHEN r.count_rank = p.count_lo THEN r.order_count END))
                 - max(CASE WHEN r.count_rank = p.count_lo THEN r.order_count END)) AS count_t4,
           -- 2 * M
           2 * max(CASE WHEN r.mean_rank = p.mean_lo THEN r.mean_sale END)
             + p.mean_rem * (
                 coalesce(max(CASE WHEN r.mean_rank = p.mean_lo + 1 THEN r.mean_sale END),
                          max(CASE WHEN r.mean_rank = p.mean_lo THEN r.mean_sale END))
                 - max(CASE WHEN r.mean_rank = p.mean_lo THEN r.mean_sale END)) AS mean_m2
    FROM positions p JOIN ranked r ON r.period = p.period
    GROUP BY p.period, p.count_lo, p.count_rem, p.mean_lo, p.mean_rem
)
SELECT s.period,
       s.product_id,
       s.category,
       s.seller_id,
       s.order_count,
       s.total_sales,
       s.mean_sale,
       CASE
           WHEN 4 * s.order_count >= t.count_t4 AND 2 * s.mean_sale >= t.mean_m2 THEN 'Star Products'
           WHEN 4 * s.order_count >= t.count_t4 THEN 'Volume Drivers'
           WHEN 2 * s.mean_sale >= t.mean_m2 THEN 'Niche Gems'
           ELSE 'Question Marks'
       END AS segment,
       CAST(t.count_t4 AS DOUBLE) / 4 AS order_count_p75,
       CAST(t.mean_m2 AS DOUBLE) / 2 AS mean_sale_median
FROM portfolio s
JOIN thresholds t ON t.period = s.period
