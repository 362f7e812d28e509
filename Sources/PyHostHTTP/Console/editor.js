// The source editor: CodeMirror 6 with Python highlighting, Tab to indent, line numbers, and the line a
// deploy failed on marked in the gutter and in the text. It lives in a shadow root: there CodeMirror
// styles it with constructed style sheets, which the page's Content-Security-Policy allows, where in
// the document it would add a <style> element, which the policy refuses.
import { defineComponent, h, onBeforeUnmount, onMounted, ref, watch } from "vue";
import {
  Compartment, Decoration, EditorState, EditorView, GutterMarker, LanguageDescription, RangeSet, StateEffect, StateField,
  bracketMatching, defaultHighlightStyle, defaultKeymap, drawSelection, gutterLineClass, highlightActiveLine,
  highlightActiveLineGutter, history, historyKeymap, indentOnInput, indentUnit, indentWithTab, keymap, languages, lineNumbers,
  syntaxHighlighting,
} from "codemirror";

const markLine = StateEffect.define();
class ErrorLineMarker extends GutterMarker {
  elementClass = "cm-error-line";
}
const gutterMark = new ErrorLineMarker();
const textMark = Decoration.line({ class: "cm-error-line" });

// The marked line's number, or null; kept until the next deploy says otherwise.
const markedLine = StateField.define({
  create: () => null,
  update: (line, transaction) => transaction.effects.reduce((last, effect) => (effect.is(markLine) ? effect.value : last), line),
  provide: (field) => [
    gutterLineClass.compute(["doc", field], (state) => atLine(state, state.field(field), gutterMark)),
    EditorView.decorations.compute(["doc", field], (state) => atLine(state, state.field(field), textMark)),
  ],
});

const theme = EditorView.theme({
  "&": { height: "18rem", fontSize: "13px", backgroundColor: "#fff" },
  ".cm-scroller": { fontFamily: "ui-monospace, monospace", lineHeight: "1.5" },
  ".cm-gutterElement.cm-error-line": { backgroundColor: "#ffebe9", color: "#cf222e", fontWeight: "bold" },
  ".cm-line.cm-error-line": { backgroundColor: "#ffebe9" },
});

function atLine(state, number, mark) {
  return number && number <= state.doc.lines ? RangeSet.of([mark.range(state.doc.line(number).from)]) : RangeSet.empty;
}

export const PythonEditor = defineComponent({
  props: { modelValue: { type: String, required: true }, markedLine: { type: Number, default: null } },
  emits: ["update:modelValue"],
  setup(props, { emit }) {
    const host = ref(null);
    const language = new Compartment();
    let view = null;

    onMounted(async () => {
      const root = host.value.attachShadow({ mode: "open" });
      view = new EditorView({
        root,
        parent: root,
        state: EditorState.create({
          doc: props.modelValue,
          extensions: [
            lineNumbers(), highlightActiveLineGutter(), history(), drawSelection(), indentOnInput(), indentUnit.of("    "),
            syntaxHighlighting(defaultHighlightStyle, { fallback: true }), bracketMatching(), highlightActiveLine(),
            keymap.of([indentWithTab, ...defaultKeymap, ...historyKeymap]), language.of([]), markedLine, theme,
            EditorView.updateListener.of((update) => {
              if (update.docChanged) emit("update:modelValue", update.state.doc.toString());
            }),
          ],
        }),
      });
      view.dispatch({ effects: markLine.of(props.markedLine) });
      // The Python mode is a chunk of its own, loaded on first use.
      const python = await LanguageDescription.matchLanguageName(languages, "python").load();
      view.dispatch({ effects: language.reconfigure(python) });
    });
    watch(() => props.modelValue, (source) => {
      if (view && source !== view.state.doc.toString()) view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: source } });
    });
    watch(() => props.markedLine, (line) => view?.dispatch({ effects: markLine.of(line) }));
    onBeforeUnmount(() => view?.destroy());
    return () => h("div", { ref: host, class: "editor", id: "source" });
  },
});
