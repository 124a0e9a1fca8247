// The signed-in view: a form for a new task, filters (search, completed,
// sort), the list with "Load more" (following next_cursor), and per task:
// complete, edit (with If-Match) and delete.

import { api } from './api.js';
import { announce, announceError } from './announce.js';
import { busy, field, h, showFieldErrors, srOnly } from './dom.js';

const PAGE_SIZE = 20;
const PRIORITIES = [['low', 'Low'], ['medium', 'Medium'], ['high', 'High']];
const PRIORITY_LABEL = Object.fromEntries(PRIORITIES);
const SORTS = [
  ['-created_at', 'Newest first'],
  ['created_at', 'Oldest first'],
  ['due_at', 'Due date'],
  ['priority', 'Priority'],
];
const SHOWS = [['', 'All tasks'], ['false', 'Open'], ['true', 'Done']];

/** A `<select>` with `[value, label]` options. */
function select(id, name, options, selected) {
  return h('select', { id, name },
    options.map(([value, label]) => h('option', { value, selected: value === selected, text: label })));
}

/** `YYYY-MM-DD` of a timestamp in local time, for `<input type=date>`. */
function localDate(timestamp) {
  if (!timestamp) return '';
  const d = new Date(timestamp);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** A date input's value as the end of that local day (RFC 3339), or null. */
function dueAt(dateValue) {
  return dateValue ? new Date(`${dateValue}T23:59:59`).toISOString() : null;
}

export function renderTasks(main) {
  /** What the list shows: the filters, the loaded tasks and where to go on. */
  const state = { completed: '', q: '', sort: '-created_at', tasks: [], nextCursor: null, loading: false };

  // --- new task ---------------------------------------------------------
  const title = h('input', { id: 'new-title', name: 'title', type: 'text', required: true, maxlength: 200, autocomplete: 'off' });
  const description = h('textarea', { id: 'new-description', name: 'description', rows: 2, maxlength: 5000 });
  const priority = select('new-priority', 'priority', PRIORITIES, 'medium');
  const due = h('input', { id: 'new-due', name: 'due_at', type: 'date' });
  const createForm = h('form', { id: 'new-task', 'aria-labelledby': 'new-task-heading' },
    field('Title', title),
    field('Description (optional)', description),
    h('div', { class: 'field-row' }, field('Priority', priority), field('Due date (optional)', due)),
    h('button', { type: 'submit', class: 'primary', text: 'Add task' }));

  // --- filters ----------------------------------------------------------
  const search = h('input', { id: 'filter-q', name: 'q', type: 'search', autocomplete: 'off' });
  const show = select('filter-completed', 'completed', SHOWS, '');
  const sort = select('filter-sort', 'sort', SORTS, '-created_at');
  const filters = h('form', { id: 'filters', role: 'search', 'aria-label': 'Filter tasks' },
    field('Search titles', search),
    field('Show', show),
    field('Sort by', sort),
    h('button', { type: 'submit', text: 'Apply' }));

  const heading = h('h2', { id: 'tasks-heading', tabindex: '-1', text: 'Your tasks' });
  const summary = h('p', { id: 'list-summary', class: 'summary' });
  const list = h('ul', { id: 'task-list', class: 'task-list', 'aria-labelledby': 'tasks-heading' });
  const loadMore = h('button', { type: 'button', id: 'load-more', hidden: true, text: 'Load more' });

  main.replaceChildren(
    h('section', { class: 'card', 'aria-labelledby': 'new-task-heading' },
      h('h2', { id: 'new-task-heading', text: 'New task' }), createForm),
    h('section', { class: 'card', 'aria-labelledby': 'tasks-heading' },
      heading, filters, summary, list, loadMore),
  );

  // --- list -------------------------------------------------------------
  function matchesFilter(task) {
    return state.completed === '' || String(task.completed) === state.completed;
  }

  function describeList() {
    const n = state.tasks.length;
    if (n === 0) {
      summary.textContent = state.q || state.completed ? 'No tasks match these filters.' : 'No tasks yet. Add one above.';
    } else {
      summary.textContent = `Showing ${n} task${n === 1 ? '' : 's'}${state.nextCursor ? ' (more to load)' : ''}.`;
    }
    loadMore.hidden = !state.nextCursor;
  }

  function itemOf(id) {
    return list.querySelector(`li[data-id="${CSS.escape(id)}"]`);
  }

  function replaceTask(task) {
    const i = state.tasks.findIndex((t) => t.id === task.id);
    if (i >= 0) state.tasks[i] = task;
  }

  function removeTask(id, { focusNext = false } = {}) {
    const li = itemOf(id);
    const next = li?.nextElementSibling ?? li?.previousElementSibling;
    state.tasks = state.tasks.filter((t) => t.id !== id);
    li?.remove();
    describeList();
    if (focusNext) (next?.querySelector('input, button') ?? heading).focus();
  }

  async function loadPage({ append }) {
    if (state.loading) return;
    state.loading = true;
    list.setAttribute('aria-busy', 'true');
    loadMore.disabled = true;
    try {
      const { data } = await api.listTasks({
        completed: state.completed,
        q: state.q,
        sort: state.sort,
        limit: PAGE_SIZE,
        cursor: append ? state.nextCursor : null,
      });
      if (!append) {
        state.tasks = [];
        list.replaceChildren();
      }
      const known = new Set(state.tasks.map((t) => t.id));
      const fresh = data.items.filter((t) => !known.has(t.id));
      state.tasks.push(...fresh);
      list.append(...fresh.map(taskItem));
      state.nextCursor = data.next_cursor;
      describeList();
      if (append) {
        if (fresh.length) itemOf(fresh[0].id).querySelector('input').focus();
        announce(`Loaded ${fresh.length} more task${fresh.length === 1 ? '' : 's'}.`);
      }
    } catch (error) {
      if (error.status !== 401) announceError(`Could not load your tasks. ${error.message}`);
    } finally {
      state.loading = false;
      list.removeAttribute('aria-busy');
      loadMore.disabled = false;
    }
  }

  // --- one task -----------------------------------------------------------
  function taskItem(task) {
    const li = h('li', { class: 'task', 'data-id': task.id });
    drawTask(li, task);
    return li;
  }

  function drawTask(li, task) {
    const checkId = `done-${task.id}`;
    const due = task.due_at ? new Date(task.due_at) : null;
    const overdue = due && !task.completed && due < new Date();
    li.classList.toggle('completed', task.completed);
    li.replaceChildren(
      h('div', { class: 'task-main' },
        h('div', { class: 'task-check' },
          h('input', { type: 'checkbox', id: checkId, checked: task.completed, on: { change: (e) => toggleDone(task.id, e.target) } }),
          h('label', { for: checkId, class: 'task-title' }, srOnly('Done: '), task.title)),
        task.description ? h('p', { class: 'task-description', text: task.description }) : null,
        h('p', { class: 'task-meta' },
          h('span', { class: `priority priority-${task.priority}`, text: `${PRIORITY_LABEL[task.priority] ?? task.priority} priority` }),
          due ? h('span', { class: overdue ? 'due overdue' : 'due' },
            `Due ${due.toLocaleDateString()}`, overdue ? ' (overdue)' : '') : null)),
      h('div', { class: 'task-actions' },
        h('button', { type: 'button', class: 'edit', on: { click: () => startEdit(task.id) } }, 'Edit', srOnly(` “${task.title}”`)),
        h('button', { type: 'button', class: 'danger delete', on: { click: () => deleteTask(task.id) } }, 'Delete', srOnly(` “${task.title}”`))),
    );
  }

  async function toggleDone(id, checkbox) {
    // No If-Match: "done" is a state, not an edit of content; setting it
    // twice from two pages is harmless.
    const completed = checkbox.checked;
    checkbox.disabled = true;
    try {
      const { data } = await api.updateTask(id, { completed });
      replaceTask(data);
      if (!matchesFilter(data)) {
        removeTask(id, { focusNext: true });
        announce(`“${data.title}” marked ${completed ? 'done' : 'not done'}; hidden by the filter.`);
        return;
      }
      drawTask(itemOf(id), data);
      itemOf(id).querySelector('input').focus();
      announce(`“${data.title}” marked ${completed ? 'done' : 'not done'}.`);
    } catch (error) {
      checkbox.checked = !completed;
      checkbox.disabled = false;
      if (error.status === 404) {
        removeTask(id, { focusNext: true });
        announceError('That task no longer exists; it was deleted elsewhere.');
      } else if (error.status !== 401) {
        announceError(`Could not update the task. ${error.message}`);
      }
    }
  }

  async function deleteTask(id) {
    const task = state.tasks.find((t) => t.id === id);
    if (!task || !window.confirm(`Delete “${task.title}”?`)) return;
    try {
      await api.deleteTask(id);
      removeTask(id, { focusNext: true });
      announce(`“${task.title}” deleted.`);
    } catch (error) {
      if (error.status === 404) {
        removeTask(id, { focusNext: true });
        announce(`“${task.title}” was already deleted.`);
      } else if (error.status !== 401) {
        announceError(`Could not delete the task. ${error.message}`);
      }
    }
  }

  function startEdit(id) {
    const task = state.tasks.find((t) => t.id === id);
    if (task) drawEditForm(itemOf(id), task);
  }

  function finishEdit(li, task, message) {
    drawTask(li, task);
    li.querySelector('button.edit').focus();
    if (message) announce(message);
  }

  function drawEditForm(li, task, notice) {
    const p = `edit-${task.id}`;
    const titleIn = h('input', { id: `${p}-title`, name: 'title', type: 'text', required: true, maxlength: 200, value: task.title });
    const descIn = h('textarea', { id: `${p}-description`, name: 'description', rows: 3, maxlength: 5000 });
    descIn.value = task.description ?? '';
    const prioIn = select(`${p}-priority`, 'priority', PRIORITIES, task.priority);
    const dueIn = h('input', { id: `${p}-due`, name: 'due_at', type: 'date', value: localDate(task.due_at) });
    const doneIn = h('input', { id: `${p}-completed`, name: 'completed', type: 'checkbox', checked: task.completed });
    const cancel = h('button', { type: 'button', text: 'Cancel' });
    const form = h('form', { class: 'edit-form', 'aria-label': `Edit “${task.title}”` },
      notice ? h('p', { class: 'notice', text: notice }) : null,
      field('Title', titleIn),
      field('Description', descIn),
      h('div', { class: 'field-row' },
        field('Priority', prioIn),
        field('Due date', dueIn),
        h('div', { class: 'field checkbox-field' }, doneIn, h('label', { for: doneIn.id, text: 'Done' }))),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: 'Save' }), cancel));
    li.classList.remove('completed');
    li.replaceChildren(form);
    titleIn.focus();

    cancel.addEventListener('click', () => finishEdit(li, task, 'Edit cancelled.'));
    form.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') finishEdit(li, task, 'Edit cancelled.');
    });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const wanted = {
        title: titleIn.value,
        description: descIn.value.trim() === '' ? null : descIn.value,
        priority: prioIn.value,
        due_at: dueAt(dueIn.value),
        completed: doneIn.checked,
      };
      const changes = {};
      for (const [name, value] of Object.entries(wanted)) {
        const before = name === 'due_at' ? dueAt(localDate(task.due_at)) : task[name];
        if (value !== before) changes[name] = value;
      }
      if (Object.keys(changes).length === 0) {
        finishEdit(li, task, 'Nothing changed.');
        return;
      }
      showFieldErrors(form);
      busy(form, true);
      try {
        const { data } = await api.updateTask(task.id, changes, task.version);
        replaceTask(data);
        if (!matchesFilter(data)) {
          removeTask(task.id, { focusNext: true });
          announce(`“${data.title}” saved; hidden by the filter.`);
        } else {
          finishEdit(li, data, `“${data.title}” saved.`);
        }
      } catch (error) {
        busy(form, false);
        if (error.status === 412) {
          await reloadAfterConflict(li, task.id);
        } else if (error.status === 404) {
          removeTask(task.id, { focusNext: true });
          announceError('That task no longer exists; it was deleted elsewhere.');
        } else if (error.status !== 401) {
          announceError(`Could not save the task. ${error.message}`);
          showFieldErrors(form, error.fieldErrors);
        }
      }
    });
  }

  /** After a 412: someone changed the task since it was loaded. Show the
   * current version in the form, so the person can redo their edit on it. */
  async function reloadAfterConflict(li, id) {
    const message = 'This task was changed elsewhere (in another tab or device) since you opened it. '
      + 'It has been reloaded with the latest version; make your change again and save.';
    try {
      const { data } = await api.getTask(id);
      replaceTask(data);
      drawEditForm(li, data, message);
      announceError(message);
    } catch (error) {
      if (error.status === 404) {
        removeTask(id, { focusNext: true });
        announceError('That task was deleted elsewhere.');
      } else if (error.status !== 401) {
        announceError(`This task was changed elsewhere, and reloading it failed. ${error.message}`);
      }
    }
  }

  // --- events -------------------------------------------------------------
  createForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    showFieldErrors(createForm);
    const task = { title: title.value, priority: priority.value };
    if (description.value.trim()) task.description = description.value;
    if (due.value) task.due_at = dueAt(due.value);
    busy(createForm, true);
    try {
      const { data } = await api.createTask(task);
      busy(createForm, false);
      createForm.reset();
      title.focus();
      const fitsTop = state.sort === '-created_at' && matchesFilter(data)
        && (!state.q || data.title.toLowerCase().includes(state.q.toLowerCase()));
      if (fitsTop) {
        state.tasks.unshift(data);
        list.prepend(taskItem(data));
        describeList();
      } else {
        await loadPage({ append: false });
      }
      announce(`“${data.title}” added.`);
    } catch (error) {
      busy(createForm, false);
      if (error.status !== 401) {
        announceError(`Could not add the task. ${error.message}`);
        showFieldErrors(createForm, error.fieldErrors);
      }
    }
  });

  filters.addEventListener('submit', async (event) => {
    event.preventDefault();
    state.q = search.value.trim();
    state.completed = show.value;
    state.sort = sort.value;
    await loadPage({ append: false });
    announce(summary.textContent);
  });
  for (const control of [show, sort]) {
    control.addEventListener('change', () => filters.requestSubmit());
  }
  loadMore.addEventListener('click', () => loadPage({ append: true }));

  loadPage({ append: false });
}
