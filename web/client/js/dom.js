// Building DOM nodes without innerHTML, so text from the API (titles,
// descriptions, error details) can never become markup.

/**
 * Creates an element. `attrs`: plain attributes, except `class`, `text`
 * (text content) and `on` (an object of event listeners). `true` sets a
 * boolean attribute (`checked`, `selected`, `required`… as defaults, so
 * `form.reset()` returns to them); `false`, null and undefined set nothing.
 * Children may be nodes, strings or null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else if (name === 'on') {
      for (const [event, listener] of Object.entries(value)) el.addEventListener(event, listener);
    } else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A label and its control, wrapped in a `div.field`. */
export function field(labelText, control, hint) {
  const hintEl = hint ? h('p', { class: 'hint', id: `${control.id}-hint`, text: hint }) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id, text: labelText }), control, hintEl);
}

/** Text visible only to screen readers. */
export function srOnly(text) {
  return h('span', { class: 'visually-hidden', text });
}

let counter = 0;
/** A page-unique id with a readable prefix. */
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** Marks the form's inputs named in a problem's `errors`, and clears old marks. */
export function showFieldErrors(form, fieldErrors = []) {
  for (const old of form.querySelectorAll('.field-error')) old.remove();
  for (const input of form.querySelectorAll('[aria-invalid]')) {
    input.removeAttribute('aria-invalid');
    const describedBy = (input.getAttribute('aria-describedby') || '')
      .split(' ').filter((id) => id && !id.endsWith('-error')).join(' ');
    if (describedBy) input.setAttribute('aria-describedby', describedBy);
    else input.removeAttribute('aria-describedby');
  }
  let first = null;
  for (const { field: name, message } of fieldErrors) {
    const input = form.elements.namedItem(name);
    if (!(input instanceof HTMLElement)) continue;
    const error = h('p', { class: 'field-error', id: `${input.id}-error`, text: message });
    input.insertAdjacentElement('afterend', error);
    input.setAttribute('aria-invalid', 'true');
    const describedBy = [input.getAttribute('aria-describedby'), error.id].filter(Boolean).join(' ');
    input.setAttribute('aria-describedby', describedBy);
    first ??= input;
  }
  first?.focus();
}

/** Disables a form's controls while its request is on its way. */
export function busy(form, on) {
  for (const control of form.elements) control.disabled = on;
  form.setAttribute('aria-busy', on ? 'true' : 'false');
}

/** A timestamp as a `<time>` in the reader's locale ("—" for none). */
export function when(timestamp) {
  if (!timestamp) return document.createTextNode('—');
  return h('time', { datetime: timestamp, text: new Date(timestamp).toLocaleString() });
}
