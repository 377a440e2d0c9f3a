-- The keys an interval run of silver-build recomputes (interval runs only; a full refresh
-- computes everything). The staging views read only these keys' copies (`affected_<topic>`
-- below), so each model computes the rows of these keys instead of the whole history, and
-- its scope names the same rows; the runner merges them into the table: in every partition it rewrites, the
-- rows of these keys are replaced, the others kept (no input of theirs is in the interval).
-- Every silver table's rows of an order are rewritten together, so the tables keep
-- referring to each other whatever order the intervals run in.
--
-- The keys must cover every row the interval can change, in the new result and in the table
-- as it is, and every key those rows read:
--   orders   the touched orders; every order with an item (any copy) of a touched product;
--            every order whose silver rows name a touched product (an item that moved to
--            another product since is recomputed, not left behind with the old one);
--   products the touched products, and the products of those orders' items (any copy);
--   users    the touched customers and sellers, every user with a copy in a touched zip, and
--            every user whose silver row has a touched zip;
--   zips     the touched zips, and the zips of those users' copies.
-- Any copy, not only the latest: a superset of keys computes the same rows for them.
-- The key pairs read twice below are materialised once (each read of bronze or silver scans
-- the table's files again).

CREATE TABLE item_products AS
SELECT order_id, product_id FROM bronze.order_item WHERE order_id IS NOT NULL;

CREATE TABLE customer_zips AS
SELECT customer_id, zip_code FROM bronze.customer WHERE customer_id IS NOT NULL;

CREATE TABLE seller_zips AS
SELECT seller_id, zip_code FROM bronze.seller WHERE seller_id IS NOT NULL;

CREATE TABLE located_users AS
SELECT user_type, user_id, zip_code FROM silver.user_location;

CREATE TABLE affected_orders AS
SELECT order_id FROM touched_orders
UNION
SELECT order_id FROM item_products
WHERE product_id IN (SELECT product_id FROM touched_products)
UNION
SELECT order_id FROM silver.order_product
WHERE product_id IN (SELECT product_id FROM touched_products)
UNION
SELECT order_id FROM silver.delivered_order_product
WHERE product_id IN (SELECT product_id FROM touched_products);

CREATE TABLE affected_products AS
SELECT product_id FROM touched_products
UNION
SELECT product_id FROM item_products
WHERE product_id IS NOT NULL AND order_id IN (SELECT order_id FROM affected_orders);

CREATE TABLE affected_customers AS
SELECT customer_id FROM touched_customers
UNION
SELECT customer_id FROM customer_zips
WHERE zip_code IN (SELECT zip_code FROM touched_zips)
UNION
SELECT user_id FROM located_users
WHERE user_type = 'customer' AND zip_code IN (SELECT zip_code FROM touched_zips);

CREATE TABLE affected_sellers AS
SELECT seller_id FROM touched_sellers
UNION
SELECT seller_id FROM seller_zips
WHERE zip_code IN (SELECT zip_code FROM touched_zips)
UNION
SELECT user_id FROM located_users
WHERE user_type = 'seller' AND zip_code IN (SELECT zip_code FROM touched_zips);

CREATE TABLE affected_zips AS
SELECT zip_code FROM touched_zips
UNION
SELECT zip_code FROM customer_zips
WHERE zip_code IS NOT NULL AND customer_id IN (SELECT customer_id FROM affected_customers)
UNION
SELECT zip_code FROM seller_zips
WHERE zip_code IS NOT NULL AND seller_id IN (SELECT seller_id FROM affected_sellers);

-- The copies of the affected keys, the only ones the staging views read in an interval run
-- (their `<topic>_copies` placeholders): each topic is read once here, and the views' sorts
-- (latest copy, first status) take these few rows. (Filtered inside a view, the filter would
-- come after the sort: DataFusion pushes a window's sort below a semi-join, as the join keeps
-- its input's order, so every copy of the topic would be sorted, in each view reading it.)
CREATE TABLE affected_order_status AS
SELECT * FROM bronze.order_status WHERE order_id IN (SELECT order_id FROM affected_orders);

CREATE TABLE affected_payment AS
SELECT * FROM bronze.payment WHERE order_id IN (SELECT order_id FROM affected_orders);

CREATE TABLE affected_order_item AS
SELECT * FROM bronze.order_item WHERE order_id IN (SELECT order_id FROM affected_orders);

CREATE TABLE affected_estimated_delivery_date AS
SELECT * FROM bronze.estimated_delivery_date
WHERE order_id IN (SELECT order_id FROM affected_orders);

CREATE TABLE affected_product AS
SELECT * FROM bronze.product WHERE product_id IN (SELECT product_id FROM affected_products);

CREATE TABLE affected_seller AS
SELECT * FROM bronze.seller WHERE seller_id IN (SELECT seller_id FROM affected_sellers);

CREATE TABLE affected_customer AS
SELECT * FROM bronze.customer
WHERE customer_id IN (SELECT customer_id FROM affected_customers);

CREATE TABLE affected_geolocation AS
SELECT * FROM bronze.geolocation WHERE zip_code IN (SELECT zip_code FROM affected_zips);

-- The months the affected orders' rows can be in, in the tables partitioned by month of
-- purchase or delivery (`scope within:` of those models): an order's purchase (or
-- delivered_customer) is the earliest such time among the events a run saw, so whichever run
-- wrote its rows, and whichever run writes them now, it is one of the times the order's
-- purchase (delivery) was ever stamped with (state.sql keeps each of them). An interval run
-- reads and rewrites those months only. (`period`: a
-- month's first day as text, `2018-08-01`, read as the touched quarters are.)
CREATE TABLE affected_status_months AS
SELECT DISTINCT status, CAST(CAST(date_trunc('month', "timestamp") AS DATE) AS VARCHAR) AS period
FROM affected_order_status
WHERE status IN ('purchase', 'delivered_customer') AND "timestamp" IS NOT NULL;

CREATE VIEW affected_purchase_months AS
SELECT period FROM affected_status_months WHERE status = 'purchase';

CREATE VIEW affected_delivery_months AS
SELECT period FROM affected_status_months WHERE status = 'delivered_customer';
