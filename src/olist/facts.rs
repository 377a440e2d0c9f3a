//! Distributions of the real dataset that the generator reproduces (from
//! `olist-data-facts.md`), and Brazilian geography it draws places from.
//!
//! Category names and their product counts are facts about the Olist dataset (CC BY-NC-SA 4.0,
//! attribution: Olist); the two untranslated categories are kept untranslated on purpose.

/// Portuguese category name, English translation ("" = none in the translation file), number
/// of products in the real products file, item rows in the real items file where published.
pub const CATEGORIES: &[(&str, &str, u32, u32)] = &[
    ("cama_mesa_banho", "bed_bath_table", 3029, 11115),
    ("esporte_lazer", "sports_leisure", 2867, 8641),
    ("moveis_decoracao", "furniture_decor", 2657, 8334),
    ("beleza_saude", "health_beauty", 2444, 9670),
    ("utilidades_domesticas", "housewares", 2335, 6964),
    ("automotivo", "auto", 1900, 4235),
    (
        "informatica_acessorios",
        "computers_accessories",
        1639,
        7827,
    ),
    ("brinquedos", "toys", 1411, 0),
    ("relogios_presentes", "watches_gifts", 1329, 5991),
    ("telefonia", "telephony", 1134, 4545),
    ("bebes", "baby", 919, 0),
    ("perfumaria", "perfumery", 868, 0),
    ("papelaria", "stationery", 849, 0),
    (
        "fashion_bolsas_e_acessorios",
        "fashion_bags_accessories",
        849,
        0,
    ),
    ("cool_stuff", "cool_stuff", 789, 0),
    ("ferramentas_jardim", "garden_tools", 753, 4347),
    ("pet_shop", "pet_shop", 719, 0),
    ("eletronicos", "electronics", 517, 0),
    (
        "construcao_ferramentas_construcao",
        "construction_tools_construction",
        400,
        0,
    ),
    ("eletrodomesticos", "home_appliances", 370, 0),
    ("malas_acessorios", "luggage_accessories", 349, 0),
    ("consoles_games", "consoles_games", 317, 0),
    ("moveis_escritorio", "office_furniture", 309, 0),
    ("instrumentos_musicais", "musical_instruments", 289, 0),
    ("eletroportateis", "small_appliances", 231, 0),
    ("casa_construcao", "home_construction", 225, 0),
    ("livros_interesse_geral", "books_general_interest", 216, 0),
    ("fashion_calcados", "fashion_shoes", 173, 0),
    ("moveis_sala", "furniture_living_room", 156, 0),
    ("climatizacao", "air_conditioning", 124, 0),
    ("livros_tecnicos", "books_technical", 123, 0),
    ("telefonia_fixa", "fixed_telephony", 116, 0),
    ("casa_conforto", "home_confort", 111, 0),
    ("market_place", "market_place", 104, 0),
    ("alimentos_bebidas", "food_drink", 104, 0),
    ("fashion_roupa_masculina", "fashion_male_clothing", 95, 0),
    (
        "moveis_cozinha_area_de_servico_jantar_e_jardim",
        "kitchen_dining_laundry_garden_furniture",
        94,
        0,
    ),
    ("sinalizacao_e_seguranca", "signaling_and_security", 93, 0),
    (
        "construcao_ferramentas_seguranca",
        "construction_tools_safety",
        91,
        0,
    ),
    ("eletrodomesticos_2", "home_appliances_2", 90, 0),
    (
        "construcao_ferramentas_jardim",
        "costruction_tools_garden",
        88,
        0,
    ),
    ("alimentos", "food", 82, 0),
    ("bebidas", "drinks", 81, 0),
    (
        "construcao_ferramentas_iluminacao",
        "construction_tools_lights",
        78,
        0,
    ),
    (
        "agro_industria_e_comercio",
        "agro_industry_and_commerce",
        74,
        0,
    ),
    (
        "industria_comercio_e_negocios",
        "industry_commerce_and_business",
        68,
        0,
    ),
    ("artigos_de_natal", "christmas_supplies", 65, 0),
    ("audio", "audio", 58, 0),
    ("artes", "art", 55, 0),
    (
        "fashion_underwear_e_moda_praia",
        "fashion_underwear_beach",
        53,
        0,
    ),
    ("dvds_blu_ray", "dvds_blu_ray", 48, 0),
    ("moveis_quarto", "furniture_bedroom", 45, 0),
    (
        "construcao_ferramentas_ferramentas",
        "costruction_tools_tools",
        39,
        0,
    ),
    ("livros_importados", "books_imported", 31, 0),
    (
        "portateis_casa_forno_e_cafe",
        "small_appliances_home_oven_and_coffee",
        31,
        0,
    ),
    ("pcs", "computers", 30, 0),
    ("cine_foto", "cine_photo", 28, 0),
    ("fashion_roupa_feminina", "fashio_female_clothing", 27, 0),
    ("musica", "music", 27, 0),
    ("artigos_de_festas", "party_supplies", 26, 0),
    ("fashion_esporte", "fashion_sport", 19, 0),
    ("artes_e_artesanato", "arts_and_craftmanship", 19, 0),
    ("flores", "flowers", 14, 0),
    ("fraldas_higiene", "diapers_and_hygiene", 12, 0),
    ("la_cuisine", "la_cuisine", 10, 0),
    ("portateis_cozinha_e_preparadores_de_alimentos", "", 10, 0),
    (
        "moveis_colchao_e_estofado",
        "furniture_mattress_and_upholstery",
        10,
        0,
    ),
    ("tablets_impressao_imagem", "tablets_printing_image", 9, 0),
    (
        "fashion_roupa_infanto_juvenil",
        "fashion_childrens_clothes",
        5,
        0,
    ),
    ("casa_conforto_2", "home_comfort_2", 5, 0),
    ("pc_gamer", "", 3, 0),
    ("seguros_e_servicos", "security_and_services", 2, 0),
    ("cds_dvds_musicais", "cds_dvds_musicals", 1, 0),
];

/// Products without a category (real: 610 of 32,951) and item rows pointing to them (1.42%).
pub const PRODUCTS_TOTAL: u32 = 32_951;
pub const PRODUCTS_WITHOUT_CATEGORY: u32 = 610;
pub const ITEMS_TOTAL: u32 = 112_650;
pub const ITEMS_WITHOUT_CATEGORY: u32 = 1_603;

pub const ORDERS_TOTAL: u32 = 99_441;
pub const SELLERS_TOTAL: u32 = 3_095;
pub const GEO_PREFIXES: u32 = 19_015;

/// Orders per purchase month, 2016-09 .. 2018-10 (no orders in 2016-11).
pub const MONTHLY_ORDERS: &[(i32, u32, u32)] = &[
    (2016, 9, 4),
    (2016, 10, 324),
    (2016, 11, 0),
    (2016, 12, 1),
    (2017, 1, 800),
    (2017, 2, 1780),
    (2017, 3, 2682),
    (2017, 4, 2404),
    (2017, 5, 3700),
    (2017, 6, 3245),
    (2017, 7, 4026),
    (2017, 8, 4331),
    (2017, 9, 4285),
    (2017, 10, 4631),
    (2017, 11, 7544),
    (2017, 12, 5673),
    (2018, 1, 7269),
    (2018, 2, 6728),
    (2018, 3, 7211),
    (2018, 4, 6939),
    (2018, 5, 6873),
    (2018, 6, 6167),
    (2018, 7, 6292),
    (2018, 8, 6512),
    (2018, 9, 16),
    (2018, 10, 4),
];

/// Order status shares (delivered 97.02%, …).
pub const STATUSES: &[(&str, u32)] = &[
    ("delivered", 96_478),
    ("shipped", 1_107),
    ("canceled", 625),
    ("unavailable", 609),
    ("invoiced", 314),
    ("processing", 301),
    ("created", 5),
    ("approved", 2),
];

/// Item rows per order: 1 … 21 (orders with items only).
pub const ITEMS_PER_ORDER: &[(u32, u32)] = &[
    (1, 88_863),
    (2, 7_516),
    (3, 1_322),
    (4, 505),
    (5, 204),
    (6, 198),
    (7, 22),
    (8, 8),
    (9, 3),
    (10, 8),
    (11, 4),
    (12, 5),
    (13, 1),
    (14, 2),
    (15, 2),
    (20, 2),
    (21, 1),
];

/// Review score shares (5: 57.8% …) are produced by lateness-dependent tables:
/// `[score 1, 2, 3, 4, 5]` per delivery outcome.
pub const SCORES_ON_TIME: [f64; 5] = [6.3, 2.5, 8.0, 21.2, 62.0];
pub const SCORES_LATE: [f64; 5] = [47.0, 8.0, 10.0, 10.0, 25.0];
pub const SCORES_UNDELIVERED: [f64; 5] = [72.0, 7.0, 8.0, 5.0, 8.0];

/// Credit-card installments 1..24 (share in %).
pub const INSTALLMENTS: &[(i32, f64)] = &[
    (1, 33.1),
    (2, 16.2),
    (3, 13.6),
    (4, 9.2),
    (5, 6.8),
    (6, 5.1),
    (7, 2.1),
    (8, 5.6),
    (9, 0.8),
    (10, 6.9),
    (11, 0.03),
    (12, 0.2),
    (13, 0.02),
    (15, 0.1),
    (18, 0.04),
    (20, 0.02),
    (24, 0.02),
];

/// Brazil's bounding box used by the prepare step to drop outliers.
pub const BRAZIL_LAT: (f64, f64) = (-33.75, 5.3);
pub const BRAZIL_LNG: (f64, f64) = (-74.0, -34.8);

/// A state: UF, share of customers, of sellers, of geolocation rows (all %), capital and its
/// coordinates, the zip-prefix range (first 5 digits), and a delivery-distance factor from the
/// São Paulo hubs (1.0 = the national median).
pub struct State {
    pub uf: &'static str,
    pub customers: f64,
    pub sellers: f64,
    pub geo: f64,
    pub capital: &'static str,
    pub lat: f64,
    pub lng: f64,
    pub zip: (u32, u32),
    pub distance: f64,
}

macro_rules! st {
    ($uf:literal, $c:expr, $s:expr, $g:expr, $cap:literal, $lat:expr, $lng:expr, $z0:expr, $z1:expr, $d:expr) => {
        State {
            uf: $uf,
            customers: $c,
            sellers: $s,
            geo: $g,
            capital: $cap,
            lat: $lat,
            lng: $lng,
            zip: ($z0, $z1),
            distance: $d,
        }
    };
}

pub const STATES: &[State] = &[
    st!(
        "SP",
        41.98,
        59.7,
        40.4,
        "sao paulo",
        -23.55,
        -46.63,
        1000,
        19999,
        0.72
    ),
    st!(
        "RJ",
        12.92,
        5.5,
        12.1,
        "rio de janeiro",
        -22.91,
        -43.17,
        20000,
        28999,
        1.12
    ),
    st!(
        "MG",
        11.70,
        7.9,
        12.6,
        "belo horizonte",
        -19.92,
        -43.94,
        30000,
        39999,
        1.0
    ),
    st!(
        "RS",
        5.50,
        4.2,
        6.2,
        "porto alegre",
        -30.03,
        -51.23,
        90000,
        99999,
        1.2
    ),
    st!(
        "PR", 5.07, 11.3, 6.4, "curitiba", -25.43, -49.27, 80000, 87999, 1.0
    ),
    st!(
        "SC",
        3.66,
        6.1,
        3.8,
        "florianopolis",
        -27.59,
        -48.55,
        88000,
        89999,
        1.15
    ),
    st!(
        "BA", 3.40, 0.6, 3.7, "salvador", -12.97, -38.50, 40000, 48999, 1.5
    ),
    st!(
        "DF", 2.15, 1.0, 1.3, "brasilia", -15.79, -47.88, 70000, 72799, 1.15
    ),
    st!(
        "ES", 2.04, 0.7, 1.6, "vitoria", -20.32, -40.34, 29000, 29999, 1.3
    ),
    st!(
        "GO", 2.03, 1.3, 2.0, "goiania", -16.68, -49.25, 72800, 76799, 1.25
    ),
    st!(
        "PE", 1.66, 0.3, 1.5, "recife", -8.05, -34.88, 50000, 56999, 1.6
    ),
    st!(
        "CE",
        1.34,
        0.4,
        1.1,
        "fortaleza",
        -3.73,
        -38.52,
        60000,
        63999,
        1.75
    ),
    st!(
        "PA", 0.98, 0.05, 0.5, "belem", -1.46, -48.50, 66000, 68899, 1.85
    ),
    st!(
        "MT", 0.91, 0.15, 0.9, "cuiaba", -15.60, -56.10, 78000, 78899, 1.45
    ),
    st!(
        "MA", 0.75, 0.05, 0.7, "sao luis", -2.53, -44.30, 65000, 65999, 1.9
    ),
    st!(
        "MS",
        0.72,
        0.15,
        0.8,
        "campo grande",
        -20.47,
        -54.62,
        79000,
        79999,
        1.3
    ),
    st!(
        "PB",
        0.54,
        0.2,
        0.5,
        "joao pessoa",
        -7.12,
        -34.86,
        58000,
        58999,
        1.7
    ),
    st!(
        "PI", 0.50, 0.05, 0.5, "teresina", -5.09, -42.80, 64000, 64999, 1.8
    ),
    st!(
        "RN", 0.49, 0.15, 0.5, "natal", -5.79, -35.21, 59000, 59999, 1.7
    ),
    st!(
        "AL", 0.42, 0.05, 0.4, "maceio", -9.67, -35.74, 57000, 57999, 1.65
    ),
    st!(
        "SE", 0.35, 0.05, 0.3, "aracaju", -10.91, -37.07, 49000, 49999, 1.6
    ),
    st!(
        "TO", 0.28, 0.05, 0.3, "palmas", -10.18, -48.33, 77000, 77999, 1.6
    ),
    st!(
        "RO",
        0.25,
        0.05,
        0.3,
        "porto velho",
        -8.76,
        -63.90,
        76800,
        76999,
        1.9
    ),
    st!(
        "AM", 0.15, 0.05, 0.2, "manaus", -3.12, -60.02, 69000, 69299, 2.1
    ),
    st!(
        "AC",
        0.08,
        0.05,
        0.1,
        "rio branco",
        -9.97,
        -67.81,
        69900,
        69999,
        2.2
    ),
    st!(
        "AP", 0.07, 0.05, 0.1, "macapa", 0.03, -51.07, 68900, 68999, 2.1
    ),
    st!(
        "RR",
        0.05,
        0.05,
        0.1,
        "boa vista",
        2.82,
        -60.67,
        69300,
        69399,
        2.2
    ),
];

/// Words that appear with and without accents in the geolocation file's city names.
pub const ACCENTED: &[(&str, &str)] = &[
    ("sao", "são"),
    ("joao", "joão"),
    ("jose", "josé"),
    ("belem", "belém"),
    ("brasilia", "brasília"),
    ("goiania", "goiânia"),
    ("florianopolis", "florianópolis"),
    ("vitoria", "vitória"),
    ("maceio", "maceió"),
    ("cuiaba", "cuiabá"),
    ("macapa", "macapá"),
    ("luis", "luís"),
    ("esperanca", "esperança"),
    ("conceicao", "conceição"),
    ("goncalo", "gonçalo"),
    ("jacarei", "jacareí"),
    ("paraiso", "paraíso"),
    ("uniao", "união"),
];

/// Syllables of synthetic town names ("nova esperanca", "santa cruz do sul"…).
pub const TOWN_FIRST: &[&str] = &[
    "nova",
    "santa",
    "sao",
    "bom",
    "campo",
    "porto",
    "vila",
    "alto",
    "rio",
    "serra",
    "santo",
    "boa",
    "monte",
    "lagoa",
    "barra",
    "cachoeira",
    "ponte",
    "jardim",
];
pub const TOWN_SECOND: &[&str] = &[
    "esperanca",
    "cruz",
    "jose",
    "jesus",
    "grande",
    "alegre",
    "verde",
    "bonito",
    "feliz",
    "conceicao",
    "goncalo",
    "paraiso",
    "uniao",
    "vista",
    "azul",
    "branco",
    "formoso",
    "antonio",
    "luis",
    "joao",
    "belo",
    "novo",
    "real",
    "das flores",
    "do sul",
    "da serra",
    "dos campos",
];

/// Review texts: titles and message fragments, some with commas, quotes and line breaks.
pub const REVIEW_TITLES_GOOD: &[&str] = &[
    "recomendo",
    "Recomendo",
    "Ótimo",
    "Excelente",
    "Muito bom",
    "Super recomendo",
    "Bom",
    "Top",
    "Perfeito",
    "Otimo produto",
    "Adorei",
];
pub const REVIEW_TITLES_BAD: &[&str] = &[
    "Não recebi",
    "Produto não entregue",
    "Ruim",
    "Péssimo",
    "Atrasou",
    "Decepcionado",
];
pub const REVIEW_GOOD: &[&str] = &[
    "Produto chegou antes do prazo",
    "Muito bom, recomendo",
    "Entrega rápida e produto de qualidade",
    "Chegou tudo certo, bem embalado",
    "Gostei muito do produto, superou as expectativas",
    "Ótimo vendedor, comprarei novamente",
    "Produto conforme a descrição",
    "lojas lannister sempre entregam bem",
    "Recebi o produto \"novo\" e lacrado",
    "Bom custo benefício",
];
pub const REVIEW_BAD: &[&str] = &[
    "Ainda não recebi o produto",
    "Produto veio com defeito, quero trocar",
    "Entrega atrasou muito",
    "Comprei dois e recebi apenas um",
    "Não recomendo, péssimo atendimento",
    "O produto não corresponde à foto",
    "Veio errado, aguardando a troca com a casa stark",
    "Paguei e até agora nada",
];
