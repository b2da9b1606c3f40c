// The pages' words in the reader's language.
//
// Every user-facing string in the pages is written in English and passed through `t`:
// `t("Next: {venue} in {seconds} s", { venue, seconds })`. The English text is the
// gettext msgid (extracted from the scripts into the package's .po catalogues); the
// server sends the translations for one language as JSON from /i18n/catalogue.json:
// `{ "language": "zh-CN", "languages": ["zh-CN", "en"], "messages": { msgid: text } }`.
// The language is the one this browser chose (remembered in localStorage, and in a `lang`
// cookie so that the server's own sentences, such as refusals, come in it too), or else the
// conference's. Without a catalogue (or a msgid it lacks) the English text is shown.

const STORAGE_KEY = "orchestrator.language";

let messages = {};
export let language = "en";
export let languages = ["en"];
let names = { "zh-CN": "中文", en: "English" };

function chosen() {
  try { return localStorage.getItem(STORAGE_KEY); } catch { return null; }
}

// The server reads the `lang` cookie (its rule: ?lang=, then the cookie, then the conference's).
function tellServer(lang) {
  document.cookie = `lang=${encodeURIComponent(lang)}; path=/; max-age=31536000; SameSite=Strict`;
}

async function load() {
  const wanted = chosen();
  if (wanted) tellServer(wanted);
  try {
    const response = await fetch("/i18n/catalogue.json" + (wanted ? `?lang=${encodeURIComponent(wanted)}` : ""),
                                 { credentials: "same-origin" });
    if (!response.ok) return;
    const catalogue = await response.json();
    messages = catalogue.messages || {};
    language = catalogue.language || "en";
    languages = catalogue.languages || [language];
    names = catalogue.names || names;
  } catch {
    // the English text stands
  }
  document.documentElement.lang = language;
}

await load();

/** The message in the page's language, `{name}` placeholders filled from `params`. */
export function t(msgid, params = {}) {
  const text = messages[msgid] || msgid;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** Remember this browser's language and show the page in it. */
export function setLanguage(lang) {
  try { localStorage.setItem(STORAGE_KEY, lang); } catch { /* private mode: this page only */ }
  tellServer(lang);
  location.reload();
}

/** Fill a `<select>` with the languages (each in its own name) and switch when it changes. */
export function languageSwitch(select) {
  select.replaceChildren(...languages.map((lang) => new Option(names[lang] || lang, lang, false, lang === language)));
  select.onchange = () => setLanguage(select.value);
}

/** A time of day (epoch seconds) in the conference's time zone, in the page's language. */
export function timeOfDay(epoch, timeZone, { seconds = false } = {}) {
  return new Date(epoch * 1000).toLocaleTimeString(language, {
    timeZone, hour: "2-digit", minute: "2-digit", ...(seconds ? { second: "2-digit" } : {}), hour12: false,
  });
}

/** Put `t(node.dataset.i18n)` into every element of `root` marked `data-i18n` (static HTML text). */
export function translateDocument(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
}
