// Lints every hand-written script: the browser scripts the server serves (`assets/`), and the
// Node scripts that build, benchmark and test it (`scripts/`, `end2end/`).
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  { ignores: ["**/node_modules/**", "end2end/artifacts/**"] },
  {
    files: ["assets/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "script", globals: globals.browser },
    rules: { "no-empty": ["error", { allowEmptyCatch: true }] },
  },
  {
    files: ["scripts/**/*.mjs", "end2end/**/*.mjs"],
    languageOptions: { ecmaVersion: 2024, sourceType: "module", globals: globals.node },
    // A failed probe or cleanup is ignored on purpose (`catch {}`), and said so where it is.
    rules: { "no-empty": ["error", { allowEmptyCatch: true }] },
  },
  {
    // The browser tests' `page.evaluate` bodies run in the page.
    files: ["end2end/**/*.test.mjs"],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
];
