// Lints the hand-written browser scripts the server serves (`assets/`).
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["assets/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "script", globals: globals.browser },
    rules: { "no-empty": ["error", { allowEmptyCatch: true }] },
  },
];
