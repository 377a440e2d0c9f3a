-- table: silver.delivered_order_product
-- order_product without shipping_limit_date: the input of the sales figures.
-- scope: order_id IN (SELECT order_id FROM affected_orders)
-- scope within: {affected_delivery_months}
-- check error not_null: order_id, order_item_id
-- check error unique: order_id, order_item_id
-- check error references: order_id, order_item_id -> order_product(order_id, order_item_id)
SELECT order_id,
       order_item_id,
       product_id,
       category,
       seller_id,
       price,
       freight_value,
       total_price,
       delivered_customer
FROM order_product
