//! The fixed texts the dataset draws from (messages, customer and Page names), chosen to be
//! hard to carry through a pipeline byte-exact, and [`Text`], their pre-escaped form.

/// A string with its Graph-escaped JSON form (quotes included), computed once so the hot path
/// only copies bytes.
pub(crate) struct Text {
    pub raw: String,
    pub esc: Vec<u8>,
}

impl Text {
    pub(super) fn new(raw: impl Into<String>) -> Text {
        let raw = raw.into();
        let mut esc = Vec::with_capacity(raw.len() * 2 + 2);
        crate::util::push_json_str(&mut esc, &raw);
        Text { raw, esc }
    }
}

/// Message texts that are hard to carry through a pipeline byte-exact.
pub(super) const MESSAGE_TEXTS: &[&str] = &[
    "Hi! Is this still available?",
    "ok thanks",
    "Merci beaucoup, à bientôt !",
    "Ça coûte combien ? 😀👍",
    "東京の店舗は何時に開きますか？",
    "你好，我想查询一下我的订单状态。",
    "مرحبا، هل يمكنني إرجاع المنتج؟",
    "שלום, מתי המשלוח יגיע?",
    "Family: 👨\u{200D}👩\u{200D}👧\u{200D}👦 and flags 🇫🇷🇯🇵",
    "Combining marks: e\u{301} a\u{308} n\u{303} Z\u{335}\u{321}a\u{334}l\u{336}g\u{337}o",
    "He said \"hi\" and left a back\\slash \\ here",
    "multi\nline\r\nmessage\twith a tab",
    "See https://example.com/a/b?x=1&y=2 or C:\\Users\\me\\file.txt",
    "Math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 and music 𝄞",
    "zero\u{200B}width\u{200C}non\u{200D}joiner\u{FEFF}bom",
    "Skin tones 👍🏽👋🏿 and keycap 1\u{FE0F}\u{20E3}",
    "<script>alert('x')</script> & ampersand",
    "Ünïcödé ÄÖÜ ß ø å — “curly” ‘quotes’",
    "Здравствуйте! Когда доставка?",
    "नमस्ते, क्या यह उपलब्ध है?",
    "bell\u{7}and\u{1F}controls",
    "line\u{2028}separator\u{2029}paragraph",
    "Mixed RTL: order #123 مرحبا 456 עברית end",
    "Ελληνικά: Γειά σου!",
];

/// Customer display names (Messenger).
pub(super) const NAMES: &[&str] = &[
    "Kun Liu",
    "Zoë Ångström",
    "李小龙",
    "محمد عبد الله",
    "Seán O'Brien",
    "Jose\u{301} A\u{301}lvarez",
    "Ana \"Nani\" Pérez",
    "Дмитрий Иванов",
    "佐藤 花子",
    "Nguyễn Văn An",
    "👩\u{200D}💻 Dev Person",
    "Ελένη Παπαδοπούλου",
    "यश शर्मा",
    "דוד כהן",
    "Łukasz Żółć",
    "𝓕𝓪𝓷𝓬𝔂 Name",
    "Back\\Slash Smith",
    "Maria-Luísa",
];

pub(super) const PAGE_NAMES: &[&str] = &[
    "Tributary Demo Page",
    "Café Zoë — 東京店",
    "مكتبة النيل",
    "Ünïcode Shop 🛍\u{FE0F}",
    "O'Reilly \"Books\" & Co",
];
