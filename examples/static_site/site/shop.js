// The shop's own code: a product catalogue and a cart kept in localStorage. Nothing here is Footfall's
// except the calls to `footfall.purchase()` (cart.html) and `footfall.identify()` (login.html).
var PRODUCTS = {
  mug: { name: 'Footfall mug', price: 12.5 },
  tee: { name: 'Footfall T-shirt', price: 25.0 },
  poster: { name: 'Footprints poster', price: 9.9 },
};
var CURRENCY = 'EUR';

function loadCart() {
  return JSON.parse(localStorage.getItem('shop_cart') || '{}'); // product id -> quantity
}
function saveCart(cart) {
  localStorage.setItem('shop_cart', JSON.stringify(cart));
}
function addToCart(productId) {
  var cart = loadCart();
  cart[productId] = (cart[productId] || 0) + 1;
  saveCart(cart);
}
// The cart as Segment's e-commerce products, and its total (in cents, then back, to add money exactly).
function cartLines() {
  var cart = loadCart();
  var products = Object.keys(cart).map(function (id) {
    return { product_id: id, sku: id.toUpperCase() + '-1', name: PRODUCTS[id].name, price: PRODUCTS[id].price, quantity: cart[id] };
  });
  var cents = products.reduce(function (sum, p) { return sum + Math.round(p.price * 100) * p.quantity; }, 0);
  return { products: products, total: cents / 100 };
}
