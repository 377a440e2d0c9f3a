-- The state of each bronze topic: the copies of bronze.<topic> that the staging views and the
-- interval scopes (staging.sql, scope.sql) can still pick; every other copy is left out.
-- Each statement reads `bronze.<topic>` as the run sees it: all of bronze on a first or full
-- build, else the previous state plus the bronze files added since, so a refresh is the same
-- statement run over its own output and the new copies. The rules are minima and maxima over
-- a total order (first event of a status, latest copy of a key), which keep the same rows
-- whatever order the copies arrive in. The dimensions also keep the copy that starts each
-- run of equal values, where scope.sql sees a change; a late copy ingested between two kept
-- ones can move that change to a later kept copy, but never hides its key (the late copy is
-- itself a change, in its own interval).
-- The job keeps the table's own columns (the helper columns below are left out).
--
-- Each statement is one pass over the copies sorted by key, then by the rule's order: the
-- first copy of a key is the one whose previous row has another key (`lag`), the latest the
-- one whose next row has another key (`lead`). The window has no PARTITION BY on purpose:
-- DataFusion evaluates a partitioned window one key at a time, which costs ~2.5 µs per key
-- (1 s for the order statuses at scale 1); over one sorted stream the same picks take a
-- vectorised comparison. Exact duplicates (a copy in the state and in the tail after a
-- compaction) sort next to each other and only one of them is kept.

-- name: order_status
-- The first event of each status of an order (status_first takes the minimum time), and the
-- first copy of every other time a purchase or a delivery was stamped with: an earlier event
-- arriving late moves the order's rows to another month (silver.order_timestamp is
-- partitioned by month of purchase, the delivered tables by month of delivery) and its items
-- to another quarter; the runs that rewrite them read the months and quarters of every such
-- time (silver/affected.sql, gold/bcg_inputs.sql), the ones the rows were in before included.
SELECT * FROM (
    SELECT *, lag(order_id) OVER w AS _previous_order, lag(status) OVER w AS _previous_status,
           lag("timestamp") OVER w AS _previous_timestamp
    FROM bronze.order_status
    WHERE order_id IS NOT NULL AND "timestamp" IS NOT NULL
    WINDOW w AS (ORDER BY order_id, status, "timestamp", ingest_time, _kafka_partition, _kafka_offset))
WHERE (order_id IS DISTINCT FROM _previous_order) OR (status IS DISTINCT FROM _previous_status)
   OR (status IN ('purchase', 'delivered_customer')
       AND "timestamp" IS DISTINCT FROM _previous_timestamp);

-- The latest copy of each key: the last of its copies in (ingest_time, partition, offset)
-- order, a null ingest_time last (as the staging views' DESC NULLS FIRST picks it first).

-- name: payment
SELECT * FROM (
    SELECT *, lead(order_id) OVER w AS _next_0, lead(payment_sequential) OVER w AS _next_1
    FROM bronze.payment
    WHERE order_id IS NOT NULL AND payment_sequential IS NOT NULL
    WINDOW w AS (ORDER BY order_id, payment_sequential, ingest_time, _kafka_partition, _kafka_offset))
WHERE (order_id IS DISTINCT FROM _next_0) OR (payment_sequential IS DISTINCT FROM _next_1);

-- name: order_item
SELECT * FROM (
    SELECT *, lead(order_id) OVER w AS _next_0, lead(order_item_id) OVER w AS _next_1
    FROM bronze.order_item
    WHERE order_id IS NOT NULL AND order_item_id IS NOT NULL
    WINDOW w AS (ORDER BY order_id, order_item_id, ingest_time, _kafka_partition, _kafka_offset))
WHERE (order_id IS DISTINCT FROM _next_0) OR (order_item_id IS DISTINCT FROM _next_1);

-- name: estimated_delivery_date
SELECT * FROM (
    SELECT *, lead(order_id) OVER w AS _next_0
    FROM bronze.estimated_delivery_date
    WHERE order_id IS NOT NULL
    WINDOW w AS (ORDER BY order_id, ingest_time, _kafka_partition, _kafka_offset))
WHERE (order_id IS DISTINCT FROM _next_0);

-- name: review
SELECT * FROM (
    SELECT *, lead(review_id) OVER w AS _next_0, lead(order_id) OVER w AS _next_1
    FROM bronze.review
    WHERE review_id IS NOT NULL AND order_id IS NOT NULL
    WINDOW w AS (ORDER BY review_id, order_id, ingest_time, _kafka_partition, _kafka_offset))
WHERE (review_id IS DISTINCT FROM _next_0) OR (order_id IS DISTINCT FROM _next_1);

-- Dimensions: the latest copy of each key, and every copy that changes a column the scopes
-- watch (the first copy of a run of equal values), so that scope.sql still sees each change
-- at the time it was ingested. Copies repeating the previous values are left out.

-- name: product
SELECT * FROM (
    SELECT *, lag(product_id) OVER w AS _previous_key, lead(product_id) OVER w AS _next_key,
           lag(category) OVER w AS _previous_category
    FROM bronze.product
    WHERE product_id IS NOT NULL
    WINDOW w AS (ORDER BY product_id, ingest_time, _kafka_partition, _kafka_offset))
WHERE (product_id IS DISTINCT FROM _next_key) OR (product_id IS DISTINCT FROM _previous_key)
   OR (category IS DISTINCT FROM _previous_category);

-- name: seller
SELECT * FROM (
    SELECT *, lag(seller_id) OVER w AS _previous_key, lead(seller_id) OVER w AS _next_key,
           lag(zip_code) OVER w AS _previous_zip_code
    FROM bronze.seller
    WHERE seller_id IS NOT NULL
    WINDOW w AS (ORDER BY seller_id, ingest_time, _kafka_partition, _kafka_offset))
WHERE (seller_id IS DISTINCT FROM _next_key) OR (seller_id IS DISTINCT FROM _previous_key)
   OR (zip_code IS DISTINCT FROM _previous_zip_code);

-- name: customer
SELECT * FROM (
    SELECT *, lag(customer_id) OVER w AS _previous_key, lead(customer_id) OVER w AS _next_key,
           lag(zip_code) OVER w AS _previous_zip_code
    FROM bronze.customer
    WHERE customer_id IS NOT NULL
    WINDOW w AS (ORDER BY customer_id, ingest_time, _kafka_partition, _kafka_offset))
WHERE (customer_id IS DISTINCT FROM _next_key) OR (customer_id IS DISTINCT FROM _previous_key)
   OR (zip_code IS DISTINCT FROM _previous_zip_code);

-- name: geolocation
SELECT * FROM (
    SELECT *, lag(zip_code) OVER w AS _previous_key, lead(zip_code) OVER w AS _next_key,
           lag(lat) OVER w AS _previous_lat, lag(lng) OVER w AS _previous_lng, lag(city) OVER w AS _previous_city, lag(state) OVER w AS _previous_state
    FROM bronze.geolocation
    WHERE zip_code IS NOT NULL
    WINDOW w AS (ORDER BY zip_code, ingest_time, _kafka_partition, _kafka_offset))
WHERE (zip_code IS DISTINCT FROM _next_key) OR (zip_code IS DISTINCT FROM _previous_key)
   OR (lat IS DISTINCT FROM _previous_lat)
   OR (lng IS DISTINCT FROM _previous_lng)
   OR (city IS DISTINCT FROM _previous_city)
   OR (state IS DISTINCT FROM _previous_state);
