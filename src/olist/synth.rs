//! `olist-synth`: a deterministic generator of the nine Olist files in the Kaggle format.
//!
//! Dimensions (categories, products, sellers, places) are built first; then orders are drawn
//! one at a time and streamed to the five order-scoped files; the geolocation file is written
//! last from the places customers and sellers were given. Every part draws from its own forked
//! random stream, so the same seed gives byte-identical files. With `real`, products, sellers,
//! categories and payments come from the real files and the rest is built around them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Serialize;

use super::facts::{self, STATES};
use super::prepare::fold_city;
use super::raw::{self, Field, RawReader, RawWriter, format_timestamp, money};
use super::rng::{Cumulative, Rng};
use crate::error::{Error, Result};

const SECOND: i64 = 1_000_000;
const HOUR: i64 = 3600 * SECOND;
const DAY: i64 = 24 * HOUR;

/// Generator settings.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// 1.0 = the real row counts.
    pub scale: f64,
    pub seed: u64,
    pub out: PathBuf,
    /// Directory with the real products, sellers, translation and payments files.
    pub real: Option<PathBuf>,
}

/// Rows written per file.
#[derive(Debug, Default, Serialize)]
pub struct SynthReport {
    pub rows: std::collections::BTreeMap<&'static str, u64>,
}

struct Category {
    pt: String,
    en: Option<String>,
    /// Weight when drawing an item row's category.
    item_weight: f64,
    products: Vec<usize>,
    popularity: Option<Cumulative>,
}

struct Product {
    id: String,
    category: Option<usize>,
    weight_g: Option<i32>,
    price_cents: i64,
    seller: usize,
}

struct Seller {
    id: String,
}

struct Place {
    prefix: String,
    state: usize,
    city: String,
    lat: f64,
    lng: f64,
}

/// Where a customer lives: a prefix of the geolocation file, or one it lacks.
#[derive(Clone, Copy)]
enum Home {
    Mapped(usize),
    Unmapped(usize),
}

/// A person (customer_unique_id) who may order several times.
#[derive(Clone)]
struct Person {
    unique_id: String,
    home: Home,
}

fn dt(y: i32, m: u32, d: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, m, d)
        .expect("valid date")
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_micros()
}

fn midnight(t: i64) -> i64 {
    t.div_euclid(DAY) * DAY
}

fn scaled(n: u32, scale: f64, min: usize) -> usize {
    ((n as f64 * scale).round() as usize).max(min)
}

/// A charm price in cents: mostly x9.90 / x.99 endings, like the dataset's 59.90, 29.99…
fn charm_price(rng: &mut Rng) -> i64 {
    let raw = rng.lognormal(78.0, 0.95).clamp(0.85, 6735.0);
    let cents = match rng.below(20) {
        0..=11 => {
            let whole = ((raw / 10.0).round() as i64 * 10 - 1).max(4);
            whole * 100 + 90
        }
        12..=14 => (raw.floor() as i64).max(0) * 100 + 99,
        _ => (raw * 100.0).round() as i64,
    };
    cents.max(85)
}

fn accented(city: &str) -> String {
    city.split(' ')
        .map(|w| {
            facts::ACCENTED
                .iter()
                .find(|(plain, _)| *plain == w)
                .map(|(_, acc)| *acc)
                .unwrap_or(w)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

struct World {
    categories: Vec<Category>,
    category_draw: Cumulative,
    products: Vec<Product>,
    sellers: Vec<Seller>,
    places: Vec<Place>,
    /// Per state: places and their popularity.
    state_places: Vec<(Vec<usize>, Cumulative)>,
    /// Prefixes customers use that the geolocation file lacks.
    unmapped: Vec<Place>,
}

/// Runs the generator.
pub fn generate(cfg: &SynthConfig) -> Result<SynthReport> {
    if !(cfg.scale > 0.0 && cfg.scale.is_finite()) {
        return Err(Error::Config(format!(
            "--scale must be positive, got {}",
            cfg.scale
        )));
    }
    std::fs::create_dir_all(&cfg.out)?;
    let root = Rng::new(cfg.seed);
    let mut report = SynthReport::default();

    let mut world = match &cfg.real {
        Some(dir) => real_world(dir, cfg, &root, &mut report)?,
        None => synthetic_world(cfg, &root, &mut report)?,
    };
    write_orders(cfg, &root, &mut world, &mut report)?;
    write_geolocation(cfg, &root, &world, &mut report)?;
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// Places

fn town_name(rng: &mut Rng) -> String {
    let a = facts::TOWN_FIRST[rng.below(facts::TOWN_FIRST.len())];
    let b = facts::TOWN_SECOND[rng.below(facts::TOWN_SECOND.len())];
    format!("{a} {b}")
}

/// Zip prefixes with their town and centre, spread over the states like the real file.
fn build_places(rng: &mut Rng, n: usize) -> Vec<Place> {
    let weights: Vec<f64> = STATES.iter().map(|s| s.geo).collect();
    let mut per_state = vec![0usize; STATES.len()];
    for _ in 0..n {
        per_state[rng.weighted(&weights)] += 1;
    }
    let mut places = Vec::with_capacity(n);
    for (si, state) in STATES.iter().enumerate() {
        let count = per_state[si].max(1);
        let span = (state.zip.1 - state.zip.0 + 1) as usize;
        // Evenly spaced prefixes keep them unique and sorted; the capital takes the first 15%.
        let step = (span / count).max(1);
        let mut town = state.capital.to_string();
        let (mut tlat, mut tlng) = inland(state.lat, state.lng);
        let mut left_in_town = (count as f64 * 0.15).ceil() as usize;
        for k in 0..count.min(span) {
            if left_in_town == 0 {
                town = town_name(rng);
                (tlat, tlng) = inland(
                    state.lat + rng.normal() * 1.6,
                    state.lng + rng.normal() * 1.6,
                );
                left_in_town = 1 + rng.below(12);
            }
            left_in_town -= 1;
            let prefix = state.zip.0 as usize + k * step + rng.below(step);
            places.push(Place {
                prefix: format!("{prefix:05}"),
                state: si,
                city: town.clone(),
                lat: tlat + rng.normal() * 0.05,
                lng: tlng + rng.normal() * 0.05,
            });
        }
    }
    places
}

/// Keeps a town centre well inside the Brazil box, so that only the deliberate outliers fall
/// outside it.
fn inland(lat: f64, lng: f64) -> (f64, f64) {
    (lat.clamp(-33.3, 4.8), lng.clamp(-73.5, -35.3))
}

fn index_places(places: &[Place], rng: &mut Rng) -> Vec<(Vec<usize>, Cumulative)> {
    let mut by_state: Vec<Vec<usize>> = vec![Vec::new(); STATES.len()];
    for (i, p) in places.iter().enumerate() {
        by_state[p.state].push(i);
    }
    by_state
        .into_iter()
        .map(|idx| {
            let pop = Cumulative::new(idx.iter().map(|_| rng.lognormal(1.0, 1.0)));
            (idx, pop)
        })
        .collect()
}

fn draw_place(world: &World, rng: &mut Rng, state: usize) -> usize {
    let (idx, pop) = &world.state_places[state];
    if idx.is_empty() {
        return rng.below(world.places.len());
    }
    idx[pop.draw(rng)]
}

// ---------------------------------------------------------------------------------------------
// Dimensions

fn categories_from_facts() -> Vec<Category> {
    let known_items: u32 = facts::CATEGORIES.iter().map(|c| c.3).sum();
    let other_products: u32 = facts::CATEGORIES
        .iter()
        .filter(|c| c.3 == 0)
        .map(|c| c.2)
        .sum();
    let rest = (facts::ITEMS_TOTAL - facts::ITEMS_WITHOUT_CATEGORY - known_items) as f64;
    facts::CATEGORIES
        .iter()
        .map(|(pt, en, products, items)| Category {
            pt: pt.to_string(),
            en: (!en.is_empty()).then(|| en.to_string()),
            item_weight: if *items > 0 {
                *items as f64
            } else {
                rest * *products as f64 / other_products as f64
            },
            products: Vec::new(),
            popularity: None,
        })
        .collect()
}

fn finish_categories(
    categories: &mut [Category],
    products: &[Product],
    rng: &mut Rng,
) -> Cumulative {
    for (i, p) in products.iter().enumerate() {
        if let Some(c) = p.category {
            categories[c].products.push(i);
        }
    }
    for c in categories.iter_mut() {
        // Heavy-tailed popularity: a few products take many rows (the top one ~0.5% of all).
        c.popularity = Some(Cumulative::new(
            c.products.iter().map(|_| rng.lognormal(1.0, 1.3)),
        ));
    }
    // Index len() = "no category", drawn with the share of item rows without one.
    Cumulative::new(
        categories
            .iter()
            .map(|c| {
                if c.products.is_empty() {
                    0.0
                } else {
                    c.item_weight
                }
            })
            .chain([facts::ITEMS_WITHOUT_CATEGORY as f64]),
    )
}

fn synthetic_world(cfg: &SynthConfig, root: &Rng, report: &mut SynthReport) -> Result<World> {
    let mut rng = root.fork(1);
    let mut categories = categories_from_facts();

    let mut places = build_places(&mut rng, scaled(facts::GEO_PREFIXES, cfg.scale, 60));
    let state_places = index_places(&places, &mut rng);

    // sellers
    let n_sellers = scaled(facts::SELLERS_TOTAL, cfg.scale, 15);
    let seller_state_w: Vec<f64> = STATES.iter().map(|s| s.sellers).collect();
    let mut sw = RawWriter::create(&cfg.out, &raw::SELLERS)?;
    let mut sellers = Vec::with_capacity(n_sellers);
    let mut seller_pop = Vec::with_capacity(n_sellers);
    let partial = World {
        categories: Vec::new(),
        category_draw: Cumulative::new([]),
        products: Vec::new(),
        sellers: Vec::new(),
        places: std::mem::take(&mut places),
        state_places,
        unmapped: Vec::new(),
    };
    for _ in 0..n_sellers {
        let id = rng.hex_id();
        let state = rng.weighted(&seller_state_w);
        let place = &partial.places[draw_place(&partial, &mut rng, state)];
        // Seller cities are typed by hand: a few are messy ("sp / sp", an e-mail, digits).
        let city = match rng.below(400) {
            0 => format!("{} / {}", place.city, STATES[place.state].uf.to_lowercase()),
            1 => "vendas@lojas-lannister.com.br".to_string(),
            2 => place.prefix.clone() + "255",
            _ => place.city.clone(),
        };
        sw.row(&[
            Field::Text(&id),
            Field::Text(&place.prefix),
            Field::Text(&city),
            Field::Text(STATES[place.state].uf),
        ])?;
        sellers.push(Seller { id });
        seller_pop.push(rng.lognormal(1.0, 1.5));
    }
    sw.finish()?;
    report.rows.insert(raw::SELLERS.name, n_sellers as u64);
    let seller_draw = Cumulative::new(seller_pop);

    // products
    let n_products = scaled(facts::PRODUCTS_TOTAL, cfg.scale, 40);
    let mut cat_w: Vec<f64> = facts::CATEGORIES.iter().map(|c| c.2 as f64).collect();
    cat_w.push(facts::PRODUCTS_WITHOUT_CATEGORY as f64);
    let mut pw = RawWriter::create(&cfg.out, &raw::PRODUCTS)?;
    let mut products = Vec::with_capacity(n_products);
    for i in 0..n_products {
        // Make sure Health & Beauty exists even at tiny scales.
        let c = if i == 0 { 3 } else { rng.weighted(&cat_w) };
        let category = (c < categories.len()).then_some(c);
        let id = rng.hex_id();
        let dims = !rng.chance(2.0 / facts::PRODUCTS_TOTAL as f64);
        let weight = if !dims {
            None
        } else if category == Some(0) && rng.chance(0.0013) {
            Some(0)
        } else {
            Some(rng.lognormal(700.0, 1.25).clamp(50.0, 40_425.0).round() as i32)
        };
        let dim = |rng: &mut Rng, median: f64, lo: f64, hi: f64| {
            rng.lognormal(median, 0.45).clamp(lo, hi).round() as i64
        };
        let (l, h, w) = (
            dim(&mut rng, 25.0, 7.0, 105.0),
            dim(&mut rng, 13.0, 2.0, 105.0),
            dim(&mut rng, 20.0, 6.0, 118.0),
        );
        let name_len = rng.range(5, 76).to_string();
        let desc_len = (rng.lognormal(600.0, 0.7).clamp(4.0, 3992.0) as i64).to_string();
        let photos = (1 + (rng.exponential(1.2) as i64).min(19)).to_string();
        let weight_s = weight.map(|w| w.to_string());
        let (ls, hs, ws) = (l.to_string(), h.to_string(), w.to_string());
        pw.row(&[
            Field::Text(&id),
            category
                .map(|c| Field::Text(&categories[c].pt))
                .unwrap_or(Field::Null),
            if category.is_some() {
                Field::Plain(&name_len)
            } else {
                Field::Null
            },
            if category.is_some() {
                Field::Plain(&desc_len)
            } else {
                Field::Null
            },
            if category.is_some() {
                Field::Plain(&photos)
            } else {
                Field::Null
            },
            weight_s.as_deref().map(Field::Plain).unwrap_or(Field::Null),
            if dims { Field::Plain(&ls) } else { Field::Null },
            if dims { Field::Plain(&hs) } else { Field::Null },
            if dims { Field::Plain(&ws) } else { Field::Null },
        ])?;
        products.push(Product {
            id,
            category,
            weight_g: weight,
            price_cents: charm_price(&mut rng),
            seller: seller_draw.draw(&mut rng),
        });
    }
    pw.finish()?;
    report.rows.insert(raw::PRODUCTS.name, n_products as u64);

    write_translation(&cfg.out, &categories, report)?;
    let category_draw = finish_categories(&mut categories, &products, &mut rng);
    let unmapped = unmapped_places(&mut rng, &partial.places);
    Ok(World {
        categories,
        category_draw,
        products,
        sellers,
        places: partial.places,
        state_places: partial.state_places,
        unmapped,
    })
}

/// Customer prefixes absent from the geolocation file (real: 157 of 14,994).
fn unmapped_places(rng: &mut Rng, places: &[Place]) -> Vec<Place> {
    let taken: HashSet<&str> = places.iter().map(|p| p.prefix.as_str()).collect();
    let mut out = Vec::new();
    let weights: Vec<f64> = STATES.iter().map(|s| s.customers).collect();
    while out.len() < 25 {
        let si = rng.weighted(&weights);
        let s = &STATES[si];
        let prefix = format!("{:05}", rng.range(s.zip.0 as i64, s.zip.1 as i64));
        if taken.contains(prefix.as_str()) {
            continue;
        }
        out.push(Place {
            prefix,
            state: si,
            city: town_name(rng),
            lat: s.lat,
            lng: s.lng,
        });
    }
    out
}

fn write_translation(out: &Path, categories: &[Category], report: &mut SynthReport) -> Result<()> {
    let mut tw = RawWriter::create(out, &raw::TRANSLATION)?;
    let mut n = 0;
    for c in categories {
        if let Some(en) = &c.en {
            tw.row(&[Field::Plain(&c.pt), Field::Plain(en)])?;
            n += 1;
        }
    }
    tw.finish()?;
    report.rows.insert(raw::TRANSLATION.name, n);
    Ok(())
}

/// Products, sellers, categories (and later payments) from the real files, re-written with the
/// same code path that writes synthetic ones (the bytes come out identical).
fn real_world(
    dir: &Path,
    cfg: &SynthConfig,
    root: &Rng,
    report: &mut SynthReport,
) -> Result<World> {
    let mut rng = root.fork(1);

    // categories: the translation file, plus categories that only appear in products
    let mut categories: Vec<Category> = Vec::new();
    let mut by_pt: HashMap<String, usize> = HashMap::new();
    let fact_items: HashMap<&str, f64> = categories_from_facts()
        .into_iter()
        .map(|c| {
            (
                facts::CATEGORIES
                    .iter()
                    .find(|f| f.0 == c.pt)
                    .map(|f| f.0)
                    .unwrap_or(""),
                c.item_weight,
            )
        })
        .collect();
    let mut r = RawReader::open(dir, &raw::TRANSLATION)?;
    let mut tw = RawWriter::create(&cfg.out, &raw::TRANSLATION)?;
    let mut n = 0;
    while r.advance()? {
        let pt = r.req_str(0)?.to_string();
        let en = r.req_str(1)?.to_string();
        tw.row(&[Field::Plain(&pt), Field::Plain(&en)])?;
        n += 1;
        by_pt.insert(pt.clone(), categories.len());
        categories.push(Category {
            item_weight: fact_items.get(pt.as_str()).copied().unwrap_or(50.0),
            pt,
            en: Some(en),
            products: Vec::new(),
            popularity: None,
        });
    }
    tw.finish()?;
    report.rows.insert(raw::TRANSLATION.name, n);

    // sellers
    let mut sellers = Vec::new();
    let mut seller_places: Vec<Place> = Vec::new();
    let mut r = RawReader::open(dir, &raw::SELLERS)?;
    let mut sw = RawWriter::create(&cfg.out, &raw::SELLERS)?;
    while r.advance()? {
        let id = r.req_str(0)?.to_string();
        let zip = r.zip(1)?.unwrap_or_default();
        let city = r.str(2).to_string();
        let uf = r.str(3).to_string();
        sw.row(&[
            Field::Text(&id),
            Field::Text(&zip),
            Field::Text(&city),
            Field::Text(&uf),
        ])?;
        if let Some(si) = STATES.iter().position(|s| s.uf == uf) {
            let s = &STATES[si];
            let (lat, lng) = inland(s.lat + rng.normal() * 0.8, s.lng + rng.normal() * 0.8);
            seller_places.push(Place {
                prefix: zip,
                state: si,
                city: fold_city(&city),
                lat,
                lng,
            });
        }
        sellers.push(Seller { id });
    }
    sw.finish()?;
    report.rows.insert(raw::SELLERS.name, sellers.len() as u64);

    let mut places = build_places(&mut rng, scaled(facts::GEO_PREFIXES, cfg.scale, 60));
    let mut have: HashSet<String> = places.iter().map(|p| p.prefix.clone()).collect();
    for p in seller_places {
        // A few seller prefixes are missing from the real geolocation file (7 of 2,246).
        if have.insert(p.prefix.clone()) && !rng.chance(0.003) {
            places.push(p);
        }
    }
    places.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    let state_places = index_places(&places, &mut rng);

    // products
    let seller_draw = Cumulative::new(sellers.iter().map(|_| rng.lognormal(1.0, 1.5)));
    let mut products = Vec::new();
    let mut r = RawReader::open(dir, &raw::PRODUCTS)?;
    let mut pw = RawWriter::create(&cfg.out, &raw::PRODUCTS)?;
    while r.advance()? {
        let id = r.req_str(0)?.to_string();
        let cat = r.opt_str(1).map(str::to_string);
        let texts: Vec<String> = (0..9).map(|i| r.str(i).to_string()).collect();
        pw.row(
            &texts
                .iter()
                .enumerate()
                .map(|(i, t)| match (i, t.is_empty()) {
                    (_, true) => Field::Null,
                    (0 | 1, false) => Field::Text(t),
                    _ => Field::Plain(t),
                })
                .collect::<Vec<_>>(),
        )?;
        let category = cat.map(|c| {
            *by_pt.entry(c.clone()).or_insert_with(|| {
                categories.push(Category {
                    item_weight: fact_items.get(c.as_str()).copied().unwrap_or(20.0),
                    pt: c,
                    en: None,
                    products: Vec::new(),
                    popularity: None,
                });
                categories.len() - 1
            })
        });
        products.push(Product {
            id,
            category,
            weight_g: r.opt_int(5)?,
            price_cents: charm_price(&mut rng),
            seller: seller_draw.draw(&mut rng),
        });
    }
    pw.finish()?;
    report
        .rows
        .insert(raw::PRODUCTS.name, products.len() as u64);

    let category_draw = finish_categories(&mut categories, &products, &mut rng);
    let unmapped = unmapped_places(&mut rng, &places);
    Ok(World {
        categories,
        category_draw,
        products,
        sellers,
        places,
        state_places,
        unmapped,
    })
}

// ---------------------------------------------------------------------------------------------
// Orders and everything scoped to them

/// One payment row.
struct Payment {
    kind: &'static str,
    installments: i32,
    cents: i64,
}

/// The spine of an order: its id and, in real mode, its payments.
struct Spine {
    order_id: String,
    payments: Option<Vec<Payment>>,
}

fn real_payments(dir: &Path, scale: f64) -> Result<Vec<Spine>> {
    let mut r = RawReader::open(dir, &raw::PAYMENTS)?;
    let mut order: Vec<Spine> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    while r.advance()? {
        let id = r.req_str(0)?;
        let kind: &'static str = match r.req_str(2)? {
            "credit_card" => "credit_card",
            "boleto" => "boleto",
            "voucher" => "voucher",
            "debit_card" => "debit_card",
            _ => "not_defined",
        };
        let p = Payment {
            kind,
            installments: r.req_int(3)?,
            cents: r.req_money(4)?,
        };
        let seq = r.req_int(1)?;
        let i = *index.entry(id.to_string()).or_insert_with(|| {
            order.push(Spine {
                order_id: id.to_string(),
                payments: Some(Vec::new()),
            });
            order.len() - 1
        });
        let list = order[i].payments.as_mut().expect("real spine");
        // keep payment_sequential order
        let pos = seq.max(1) as usize - 1;
        if pos >= list.len() {
            list.push(p);
        } else {
            list.insert(pos, p);
        }
    }
    if scale < 1.0 {
        let keep = |id: &str| {
            let h = u64::from_str_radix(&id[..id.len().min(15)], 16).unwrap_or(0);
            (h % 1_000_000) as f64 / 1_000_000.0 < scale
        };
        order.retain(|s| keep(&s.order_id));
    }
    Ok(order)
}

struct OrderWriters {
    orders: RawWriter,
    items: RawWriter,
    payments: RawWriter,
    reviews: RawWriter,
    customers: RawWriter,
}

fn month_weights() -> (Vec<(i64, u32)>, Vec<f64>) {
    let starts = facts::MONTHLY_ORDERS
        .iter()
        .map(|(y, m, _)| (dt(*y, *m, 1), days_in_month(*y, *m)))
        .collect();
    (
        starts,
        facts::MONTHLY_ORDERS.iter().map(|m| m.2 as f64).collect(),
    )
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (NaiveDate::from_ymd_opt(ny, nm, 1).expect("date")
        - NaiveDate::from_ymd_opt(y, m, 1).expect("date"))
    .num_days() as u32
}

/// Hours of the day weighted like an online shop's traffic.
const HOUR_WEIGHTS: [f64; 24] = [
    2.4, 1.1, 0.5, 0.3, 0.2, 0.2, 0.5, 1.3, 3.0, 4.8, 6.2, 6.6, 6.0, 6.5, 6.6, 6.4, 6.5, 6.2, 5.8,
    5.8, 6.2, 6.3, 5.9, 4.3,
];

fn purchase_time(rng: &mut Rng, months: &(Vec<(i64, u32)>, Vec<f64>)) -> i64 {
    let mi = rng.weighted(&months.1);
    let (start, days) = months.0[mi];
    let (y, m, _) = facts::MONTHLY_ORDERS[mi];
    let day = if (y, m) == (2017, 11) && rng.chance(0.13) {
        23 // Black Friday, 2017-11-24 (0-based day index)
    } else {
        rng.below(days as usize) as i64
    };
    let hour = rng.weighted(&HOUR_WEIGHTS) as i64;
    start + day * DAY + hour * HOUR + rng.range(0, 3599) * SECOND
}

/// Latest purchase in the dataset; later events are not in the extract.
fn dataset_end() -> i64 {
    dt(2018, 10, 17) + 17 * HOUR + 30 * 60 * SECOND
}

fn pick_status(rng: &mut Rng, purchase: i64) -> &'static str {
    if purchase >= dt(2018, 9, 1) {
        return if rng.chance(0.8) {
            "canceled"
        } else {
            "shipped"
        };
    }
    let w: Vec<f64> = facts::STATUSES.iter().map(|s| s.1 as f64).collect();
    facts::STATUSES[rng.weighted(&w)].0
}

fn pay_kind(rng: &mut Rng) -> (&'static str, i32) {
    match rng.weighted(&[73.92, 19.04, 1.7, 1.47]) {
        0 => {
            let w: Vec<f64> = facts::INSTALLMENTS.iter().map(|i| i.1).collect();
            let inst = facts::INSTALLMENTS[rng.weighted(&w)].0;
            (
                "credit_card",
                if rng.chance(2.0 / 76_795.0) { 0 } else { inst },
            )
        }
        1 => ("boleto", 1),
        2 => ("voucher", 1),
        _ => ("debit_card", 1),
    }
}

/// Synthetic payments summing to `total` (cents), with the dataset's multi-payment mixes.
fn synth_payments(
    rng: &mut Rng,
    total: i64,
    status: &str,
    plan: (&'static str, i32),
) -> Vec<Payment> {
    if status == "canceled" && rng.chance(0.005) {
        return vec![Payment {
            kind: "not_defined",
            installments: 1,
            cents: 0,
        }];
    }
    let x = rng.f64();
    if x < 0.0226 {
        // credit card plus one or more vouchers
        let mut left = total;
        let mut out = Vec::new();
        let vouchers = 1 + rng.weighted(&[80.0, 15.0, 5.0]);
        for _ in 0..vouchers {
            let v = ((left as f64) * rng.f64() * 0.5) as i64;
            out.push(Payment {
                kind: "voucher",
                installments: 1,
                cents: v,
            });
            left -= v;
        }
        let (_, inst) = pay_kind(rng);
        out.insert(
            0,
            Payment {
                kind: "credit_card",
                installments: inst.max(1),
                cents: left,
            },
        );
        out
    } else if x < 0.0269 {
        let n = 2 + rng.below(3);
        let mut left = total;
        let mut out = Vec::new();
        for i in 0..n {
            let v = if i + 1 == n {
                left
            } else {
                left / (n - i) as i64
            };
            out.push(Payment {
                kind: "voucher",
                installments: 1,
                cents: v,
            });
            left -= v;
        }
        out
    } else if x < 0.0298 {
        let a = total / 2;
        vec![
            Payment {
                kind: "credit_card",
                installments: 1 + rng.below(4) as i32,
                cents: a,
            },
            Payment {
                kind: "credit_card",
                installments: 1,
                cents: total - a,
            },
        ]
    } else {
        let (kind, inst) = plan;
        let cents = if kind == "voucher" && rng.chance(0.0016) {
            0
        } else {
            total
        };
        vec![Payment {
            kind,
            installments: inst,
            cents,
        }]
    }
}

fn write_orders(
    cfg: &SynthConfig,
    root: &Rng,
    world: &mut World,
    report: &mut SynthReport,
) -> Result<()> {
    let mut rng = root.fork(2);
    let spines: Vec<Spine> = match &cfg.real {
        Some(dir) => {
            let mut s = real_payments(dir, cfg.scale)?;
            // One order of the dataset has no payment row.
            if cfg.scale >= 0.5 {
                let id = rng.hex_id();
                s.insert(
                    s.len() / 2,
                    Spine {
                        order_id: id,
                        payments: None,
                    },
                );
            }
            s
        }
        None => {
            let n = scaled(facts::ORDERS_TOTAL, cfg.scale, 20);
            (0..n)
                .map(|_| Spine {
                    order_id: rng.hex_id(),
                    payments: None,
                })
                .collect()
        }
    };
    let synthetic_payments = cfg.real.is_none();
    let n_orders = spines.len();
    let kept: HashSet<String> = if synthetic_payments {
        HashSet::new()
    } else {
        spines.iter().map(|s| s.order_id.clone()).collect()
    };

    let mut w = OrderWriters {
        orders: RawWriter::create(&cfg.out, &raw::ORDERS)?,
        items: RawWriter::create(&cfg.out, &raw::ITEMS)?,
        payments: RawWriter::create(&cfg.out, &raw::PAYMENTS)?,
        reviews: RawWriter::create(&cfg.out, &raw::REVIEWS)?,
        customers: RawWriter::create(&cfg.out, &raw::CUSTOMERS)?,
    };
    let months = month_weights();
    let customer_state_w: Vec<f64> = STATES.iter().map(|s| s.customers).collect();
    let items_w: Vec<f64> = facts::ITEMS_PER_ORDER.iter().map(|i| i.1 as f64).collect();
    let mut people: Vec<Person> = Vec::new();
    let mut counts = [0u64; 5];
    let mut last_review: Option<(String, i32, Option<String>, Option<String>)> = None;
    let no_payment_at = if synthetic_payments && n_orders >= 1000 {
        Some(n_orders / 3)
    } else {
        None
    };

    for (oi, spine) in spines.into_iter().enumerate() {
        let purchase = purchase_time(&mut rng, &months);
        let mut status = pick_status(&mut rng, purchase);

        // customer
        let person = if !people.is_empty() && rng.chance(0.034) {
            people[rng.below(people.len())].clone()
        } else {
            let state = rng.weighted(&customer_state_w);
            let home = if rng.chance(0.0028) {
                Home::Unmapped(rng.below(world.unmapped.len()))
            } else {
                Home::Mapped(draw_place(world, &mut rng, state))
            };
            let p = Person {
                unique_id: rng.hex_id(),
                home,
            };
            if people.len() < 200_000 {
                people.push(p.clone());
            }
            p
        };
        let place: &Place = match person.home {
            Home::Mapped(i) => &world.places[i],
            Home::Unmapped(i) => &world.unmapped[i],
        };
        let state = &STATES[place.state];
        let customer_id = rng.hex_id();
        w.customers.row(&[
            Field::Text(&customer_id),
            Field::Text(&person.unique_id),
            Field::Text(&place.prefix),
            Field::Text(&fold_city(&place.city)),
            Field::Text(state.uf),
        ])?;
        counts[4] += 1;

        // payment type first: it decides how long approval takes
        let plan = pay_kind(&mut rng);
        let first_kind = spine
            .payments
            .as_ref()
            .and_then(|p| p.first().map(|p| p.kind))
            .unwrap_or(plan.0);

        // timeline (see the calibration notes in the module docs of `facts`)
        let approval_lag = match first_kind {
            "boleto" => rng.lognormal(30.0 * 3600.0, 0.6),
            _ => rng.lognormal(15.0 * 60.0, 1.4).max(30.0),
        } as i64
            * SECOND;
        let route = rng.lognormal(9.4 * state.distance, 0.3);
        let mut total_days = route * (0.38 * rng.normal()).exp();
        if rng.chance(0.18) {
            total_days += rng.exponential(14.0);
        }
        let est_days = (1.6 * route + 7.6 + 2.0 * rng.normal()).ceil().max(3.0) as i64;
        let estimated = midnight(purchase) + est_days * DAY;
        let approved_t = purchase + approval_lag;
        let delivered_t = purchase + (total_days * DAY as f64) as i64;
        let carrier_share = (0.27 * (0.3 * rng.normal()).exp()).min(0.8);
        let mut carrier_t = approved_t
            + ((delivered_t - approved_t) as f64 * carrier_share).max(3.0 * HOUR as f64) as i64;
        if rng.chance(0.5) {
            carrier_t -= carrier_t.rem_euclid(60 * SECOND);
        }
        if status == "delivered" && delivered_t > dataset_end() {
            status = "shipped";
        }
        let (has_approved, has_carrier, has_delivered) = match status {
            "delivered" => (
                !(first_kind == "boleto" && purchase < dt(2017, 3, 1) && rng.chance(0.02)),
                !rng.chance(0.00002),
                !rng.chance(0.00008),
            ),
            "shipped" => (true, true, false),
            "canceled" => {
                let a = rng.chance(0.77);
                (a, a && rng.chance(0.12), a && rng.chance(0.01))
            }
            "unavailable" | "invoiced" | "processing" | "approved" => (true, false, false),
            _ => (false, false, false),
        };
        let ts = |t: i64| format_timestamp(t);
        let (p_s, a_s, c_s, d_s, e_s) = (
            ts(purchase),
            ts(approved_t),
            ts(carrier_t.min(dataset_end())),
            ts(delivered_t),
            ts(estimated),
        );
        w.orders.row(&[
            Field::Text(&spine.order_id),
            Field::Text(&customer_id),
            Field::Text(status),
            Field::Plain(&p_s),
            if has_approved {
                Field::Plain(&a_s)
            } else {
                Field::Null
            },
            if has_carrier {
                Field::Plain(&c_s)
            } else {
                Field::Null
            },
            if has_delivered {
                Field::Plain(&d_s)
            } else {
                Field::Null
            },
            Field::Plain(&e_s),
        ])?;
        counts[0] += 1;

        // items
        let no_items = match status {
            "unavailable" => rng.chance(0.99),
            "canceled" => rng.chance(0.26),
            "created" => true,
            "invoiced" => rng.chance(0.0064),
            "shipped" => rng.chance(0.0009),
            _ => false,
        };
        let n_items = if no_items {
            0
        } else {
            facts::ITEMS_PER_ORDER[rng.weighted(&items_w)].0 as usize
        };
        let real_total: Option<i64> = spine
            .payments
            .as_ref()
            .map(|ps| ps.iter().map(|p| p.cents).sum());
        let mut items_total = 0i64;
        if n_items > 0 {
            let base = if has_approved { approved_t } else { purchase };
            let limit = match rng.weighted(&[60.0, 25.0, 15.0]) {
                0 => base + 6 * DAY,
                1 => base + 4 * DAY,
                _ => base + rng.range(2, 9) * DAY,
            };
            let limit = if rng.chance(4.0 / 112_650.0) {
                dt(2020, 2, 3) + rng.range(0, 60) * DAY
            } else {
                limit
            };
            let limit_s = ts(limit);
            let distinct = if n_items > 1 && rng.chance(0.33) {
                2.min(n_items)
            } else {
                1
            };
            let mut chosen: Vec<usize> = (0..distinct)
                .map(|_| draw_product(world, &mut rng))
                .collect();
            chosen.dedup();
            // In real mode the lines are priced to match the real payment total (92% of orders).
            let per_line = real_total
                .filter(|_| rng.chance(0.92))
                .map(|t| t / n_items as i64);
            let zero_freight_window = purchase >= dt(2018, 4, 22) && purchase < dt(2018, 6, 15);
            for line in 0..n_items {
                let pi = chosen[line.min(chosen.len() - 1) % chosen.len()];
                let product = &world.products[pi];
                let seller = &world.sellers[product.seller];
                let weight = product.weight_g.unwrap_or(700).max(50) as f64;
                let mut freight = ((7.6 + 0.33 * weight.sqrt())
                    * state.distance.sqrt()
                    * rng.lognormal(1.0, 0.38)
                    * 100.0)
                    .round() as i64;
                if (zero_freight_window && rng.chance(0.02)) || rng.chance(0.0004) {
                    freight = 0;
                }
                let mut price = product.price_cents;
                if let Some(v) = per_line {
                    freight = freight.min(v / 3);
                    price = (v - freight).max(85);
                }
                items_total += price + freight;
                let (id_s, price_s, freight_s) =
                    ((line + 1).to_string(), money(price), money(freight));
                w.items.row(&[
                    Field::Text(&spine.order_id),
                    Field::Plain(&id_s),
                    Field::Text(&product.id),
                    Field::Text(&seller.id),
                    Field::Plain(&limit_s),
                    Field::Plain(&price_s),
                    Field::Plain(&freight_s),
                ])?;
                counts[1] += 1;
            }
        }

        // payments (real ones are copied in their original order after the loop)
        let payments = match spine.payments {
            Some(_) => Vec::new(),
            None if no_payment_at == Some(oi) => Vec::new(),
            None if cfg.real.is_some() => Vec::new(),
            None => {
                let total = if items_total > 0 {
                    items_total
                } else {
                    (rng.lognormal(100.0, 0.8) * 100.0) as i64
                };
                // ~8% of orders pay a different amount than their items (interest, vouchers).
                let total = if rng.chance(0.05) {
                    (total as f64 * rng.range(101, 115) as f64 / 100.0) as i64
                } else {
                    total
                };
                synth_payments(&mut rng, total, status, plan)
            }
        };
        for (seq, p) in payments.iter().enumerate() {
            let (seq_s, inst_s, val_s) = (
                (seq + 1).to_string(),
                p.installments.to_string(),
                money(p.cents),
            );
            w.payments.row(&[
                Field::Text(&spine.order_id),
                Field::Plain(&seq_s),
                Field::Text(p.kind),
                Field::Plain(&inst_s),
                Field::Plain(&val_s),
            ])?;
            counts[2] += 1;
        }

        // reviews: created the day after delivery (or after the estimate when undelivered),
        // only up to the extract date; some orders get two, a few none, and a few share the
        // previous order's review id (one review for several orders of one purchase).
        let late = has_delivered && midnight(delivered_t) > estimated;
        let scores = if !has_delivered {
            facts::SCORES_UNDELIVERED
        } else if late {
            facts::SCORES_LATE
        } else {
            facts::SCORES_ON_TIME
        };
        let anchor = if has_delivered {
            delivered_t
        } else {
            estimated.min(purchase + rng.range(10, 40) * DAY)
        };
        // The extract ends with reviews created on 2018-08-31: later ones are clamped to it.
        let created = (midnight(anchor) + rng.range(0, 1) * DAY).min(dt(2018, 8, 31));
        if purchase < dt(2018, 8, 31) && !rng.chance(0.0077) {
            let n_reviews = if rng.chance(0.0055) { 2 } else { 1 };
            for k in 0..n_reviews {
                let (rid, score, title, message) = match (&last_review, k) {
                    (Some(prev), 0) if rng.chance(0.0081) => prev.clone(),
                    _ => {
                        let score = rng.weighted(&scores) as i32 + 1;
                        let good = score >= 4;
                        let title = rng.chance(0.117).then(|| {
                            let bank = if good {
                                facts::REVIEW_TITLES_GOOD
                            } else {
                                facts::REVIEW_TITLES_BAD
                            };
                            bank[rng.below(bank.len())].to_string()
                        });
                        let message = rng.chance(0.413).then(|| review_text(&mut rng, good));
                        (rng.hex_id(), score, title, message)
                    }
                };
                let answer = created
                    + (rng.lognormal(40.0, 0.9) * HOUR as f64) as i64
                    + rng.range(0, 3599) * SECOND;
                let (score_s, created_s, answer_s) = (
                    score.to_string(),
                    ts(created + k as i64 * DAY),
                    ts(answer + k as i64 * DAY),
                );
                w.reviews.row(&[
                    Field::Text(&rid),
                    Field::Text(&spine.order_id),
                    Field::Plain(&score_s),
                    title.as_deref().map(Field::Text).unwrap_or(Field::Null),
                    message.as_deref().map(Field::Text).unwrap_or(Field::Null),
                    Field::Plain(&created_s),
                    Field::Plain(&answer_s),
                ])?;
                counts[3] += 1;
                last_review = Some((rid, score, title, message));
            }
        }
    }
    if let Some(dir) = &cfg.real {
        counts[2] = copy_real_payments(dir, &mut w.payments, &kept)?;
    }
    w.orders.finish()?;
    w.items.finish()?;
    w.payments.finish()?;
    w.reviews.finish()?;
    w.customers.finish()?;
    for (file, n) in [
        raw::ORDERS.name,
        raw::ITEMS.name,
        raw::PAYMENTS.name,
        raw::REVIEWS.name,
        raw::CUSTOMERS.name,
    ]
    .iter()
    .zip(counts)
    {
        report.rows.insert(file, n);
    }
    Ok(())
}

/// The real payments file row by row, in its own order, for the orders kept at this scale.
fn copy_real_payments(dir: &Path, out: &mut RawWriter, kept: &HashSet<String>) -> Result<u64> {
    let mut r = RawReader::open(dir, &raw::PAYMENTS)?;
    let mut n = 0;
    while r.advance()? {
        if !kept.contains(r.str(0)) {
            continue;
        }
        let f: Vec<&str> = (0..5).map(|i| r.str(i)).collect();
        out.row(&[
            Field::Text(f[0]),
            Field::Plain(f[1]),
            Field::Text(f[2]),
            Field::Plain(f[3]),
            Field::Plain(f[4]),
        ])?;
        n += 1;
    }
    Ok(n)
}

fn draw_product(world: &World, rng: &mut Rng) -> usize {
    let c = world.category_draw.draw(rng);
    match world.categories.get(c) {
        Some(cat) if !cat.products.is_empty() => {
            let pop = cat.popularity.as_ref().expect("popularity built");
            cat.products[pop.draw(rng)]
        }
        _ => {
            // no category: any product without one, else any product
            let uncategorised: Vec<usize> = (0..world.products.len().min(2000))
                .filter(|i| world.products[*i].category.is_none())
                .collect();
            if uncategorised.is_empty() {
                rng.below(world.products.len())
            } else {
                uncategorised[rng.below(uncategorised.len())]
            }
        }
    }
}

fn review_text(rng: &mut Rng, good: bool) -> String {
    let bank = if good {
        facts::REVIEW_GOOD
    } else {
        facts::REVIEW_BAD
    };
    let mut s = bank[rng.below(bank.len())].to_string();
    if rng.chance(0.3) {
        s.push_str(", ");
        s.push_str(&bank[rng.below(bank.len())].to_lowercase());
    }
    if rng.chance(0.04) {
        // multi-line comments exist in the raw file
        s.push_str(if rng.chance(0.5) { "\r\n" } else { "\n" });
        s.push_str(bank[rng.below(bank.len())]);
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Geolocation

fn write_geolocation(
    cfg: &SynthConfig,
    root: &Rng,
    world: &World,
    report: &mut SynthReport,
) -> Result<()> {
    let mut rng = root.fork(3);
    let mut gw = RawWriter::create(&cfg.out, &raw::GEOLOCATION)?;
    let mut n = 0u64;
    let mut sorted: Vec<&Place> = world.places.iter().collect();
    sorted.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    let mut neighbour_city = town_name(&mut rng);
    for place in sorted {
        let state = &STATES[place.state];
        // rows per prefix: median 29, mean ~53, heavy tail
        let k = rng.lognormal(29.0, 1.09).round().clamp(1.0, 1146.0) as usize;
        let mut rows: Vec<(f64, f64, String, &str)> = Vec::with_capacity(k);
        let other_state = rng.chance(0.001);
        for _ in 0..k {
            if !rows.is_empty() && rng.chance(0.262) {
                // an exact duplicate of an earlier row of this prefix
                let dup = rows[rng.below(rows.len())].clone();
                rows.push(dup);
                continue;
            }
            let mut lat = place.lat + rng.normal() * 0.015;
            let mut lng = place.lng + rng.normal() * 0.015;
            if rng.chance(0.00004) {
                // the file's outliers: points far outside Brazil
                lat = rng.range(10, 45) as f64 + rng.f64();
                lng = rng.range(-10, 121) as f64 + rng.f64();
            }
            let city = match rng.below(100) {
                0..=29 => accented(&place.city),
                30..=33 => neighbour_city.clone(),
                _ => place.city.clone(),
            };
            let uf = if other_state && rng.chance(0.3) {
                STATES[(place.state + 1) % STATES.len()].uf
            } else {
                state.uf
            };
            rows.push((lat, lng, city, uf));
        }
        if rng.chance(0.2) {
            neighbour_city = place.city.clone();
        }
        for (lat, lng, city, uf) in &rows {
            let (lat_s, lng_s) = (format!("{lat}"), format!("{lng}"));
            gw.row(&[
                Field::Text(&place.prefix),
                Field::Plain(&lat_s),
                Field::Plain(&lng_s),
                Field::Text(city),
                Field::Text(uf),
            ])?;
            n += 1;
        }
    }
    gw.finish()?;
    report.rows.insert(raw::GEOLOCATION.name, n);
    Ok(())
}
