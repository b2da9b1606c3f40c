// The sign-in page: its words in the reader's language, and the language switch.
// (The server writes the refusal of a wrong token in the reader's language already.)

import { languageSwitch, translateDocument } from "./i18n.js";

translateDocument();
languageSwitch(document.getElementById("language"));
