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

-- name: order_status
-- The first event of each status of an order (status_first takes the minimum time).
SELECT * FROM (
    SELECT *, row_number() OVER (
        PARTITION BY order_id, status
        ORDER BY "timestamp", ingest_time, _kafka_partition, _kafka_offset) AS _rank
    FROM bronze.order_status
    WHERE order_id IS NOT NULL AND "timestamp" IS NOT NULL)
WHERE _rank = 1;

-- name: payment
-- The latest copy of each payment.
SELECT * FROM (
    SELECT *, row_number() OVER (
        PARTITION BY order_id, payment_sequential
        ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _rank
    FROM bronze.payment
    WHERE order_id IS NOT NULL AND payment_sequential IS NOT NULL)
WHERE _rank = 1;

-- name: order_item
SELECT * FROM (
    SELECT *, row_number() OVER (
        PARTITION BY order_id, order_item_id
        ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _rank
    FROM bronze.order_item
    WHERE order_id IS NOT NULL AND order_item_id IS NOT NULL)
WHERE _rank = 1;

-- name: estimated_delivery_date
SELECT * FROM (
    SELECT *, row_number() OVER (
        PARTITION BY order_id
        ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _rank
    FROM bronze.estimated_delivery_date
    WHERE order_id IS NOT NULL)
WHERE _rank = 1;

-- name: review
SELECT * FROM (
    SELECT *, row_number() OVER (
        PARTITION BY review_id, order_id
        ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _rank
    FROM bronze.review
    WHERE review_id IS NOT NULL AND order_id IS NOT NULL)
WHERE _rank = 1;

-- Dimensions: the latest copy of each key, and every copy that changes a column the scopes
-- watch (the first copy of a run of equal values), so that scope.sql still sees each change
-- at the time it was ingested. Copies repeating the previous values are left out.

-- name: product
SELECT * FROM (
    SELECT *, row_number() OVER w AS _nth, lag(category) OVER w AS _previous,
           row_number() OVER (
               PARTITION BY product_id
               ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _rank
    FROM bronze.product
    WHERE product_id IS NOT NULL
    WINDOW w AS (PARTITION BY product_id ORDER BY ingest_time, _kafka_partition, _kafka_offset))
WHERE _rank = 1 OR _nth = 1 OR (category IS DISTINCT FROM _previous);

-- name: seller
SELECT * FROM (
    SELECT *, row_number() OVER w AS _nth, lag(zip_code) OVER w AS _previous,
           row_number() OVER (
               PARTITION BY seller_id
               ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _rank
    FROM bronze.seller
    WHERE seller_id IS NOT NULL
    WINDOW w AS (PARTITION BY seller_id ORDER BY ingest_time, _kafka_partition, _kafka_offset))
WHERE _rank = 1 OR _nth = 1 OR (zip_code IS DISTINCT FROM _previous);

-- name: customer
SELECT * FROM (
    SELECT *, row_number() OVER w AS _nth, lag(zip_code) OVER w AS _previous,
           row_number() OVER (
               PARTITION BY customer_id
               ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _rank
    FROM bronze.customer
    WHERE customer_id IS NOT NULL
    WINDOW w AS (PARTITION BY customer_id ORDER BY ingest_time, _kafka_partition, _kafka_offset))
WHERE _rank = 1 OR _nth = 1 OR (zip_code IS DISTINCT FROM _previous);

-- name: geolocation
SELECT * FROM (
    SELECT *, row_number() OVER w AS _nth,
           lag(lat) OVER w AS _p_lat, lag(lng) OVER w AS _p_lng,
           lag(city) OVER w AS _p_city, lag(state) OVER w AS _p_state,
           row_number() OVER (
               PARTITION BY zip_code
               ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _rank
    FROM bronze.geolocation
    WHERE zip_code IS NOT NULL
    WINDOW w AS (PARTITION BY zip_code ORDER BY ingest_time, _kafka_partition, _kafka_offset))
WHERE _rank = 1 OR _nth = 1
   OR (lat IS DISTINCT FROM _p_lat) OR (lng IS DISTINCT FROM _p_lng)
   OR (city IS DISTINCT FROM _p_city) OR (state IS DISTINCT FROM _p_state);
