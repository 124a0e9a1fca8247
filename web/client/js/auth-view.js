// Signing in and creating an account: two small forms side by side
// (stacked on a phone).

import { api } from './api.js';
import { announce, announceError } from './announce.js';
import { busy, field, h, showFieldErrors } from './dom.js';
import { navLink } from './nav.js';
import { session } from './session.js';

function loginForm(onSignedIn) {
  const email = h('input', { id: 'login-email', name: 'email', type: 'email', autocomplete: 'username', required: true });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { id: 'login-form', 'aria-labelledby': 'login-heading' },
    field('Email', email),
    field('Password', password),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', text: 'Log in' }),
      navLink('/forgot-password', 'Forgot your password?', { id: 'forgot-link', class: 'aside-link' })));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showFieldErrors(form);
    busy(form, true);
    try {
      const { data, date } = await api.login(email.value.trim(), password.value);
      session.save(data, date, { login: true });
      onSignedIn();
      announce(`Welcome${data.user.name ? `, ${data.user.name}` : ''}! You are logged in.`);
    } catch (error) {
      busy(form, false);
      announceError(error.status === 401 ? 'Wrong email or password.' : `Could not log in. ${error.message}`);
      showFieldErrors(form, error.fieldErrors);
      if (!error.fieldErrors.length) {
        password.value = '';
        password.focus();
      }
    }
  });
  return h('section', { class: 'card' }, h('h2', { id: 'login-heading', text: 'Log in' }), form);
}

function registerForm(loginSection) {
  const email = h('input', { id: 'register-email', name: 'email', type: 'email', autocomplete: 'email', required: true, maxlength: 254 });
  const password = h('input', { id: 'register-password', name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8, maxlength: 128 });
  const name = h('input', { id: 'register-name', name: 'name', type: 'text', autocomplete: 'name', maxlength: 100 });
  const form = h('form', { id: 'register-form', 'aria-labelledby': 'register-heading' },
    field('Email', email),
    field('Password', password, '8 to 128 characters.'),
    field('Name (optional)', name),
    h('button', { type: 'submit', text: 'Create account' }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showFieldErrors(form);
    busy(form, true);
    try {
      const { data } = await api.register(email.value.trim(), password.value, name.value.trim());
      busy(form, false);
      form.reset();
      const loginEmail = loginSection.querySelector('#login-email');
      loginEmail.value = data.email;
      const loginPassword = loginSection.querySelector('#login-password');
      loginPassword.value = '';
      loginPassword.focus();
      announce(`Account created for ${data.email}. You can log in now.`);
    } catch (error) {
      busy(form, false);
      const message = error.status === 409
        ? 'An account with this email already exists. Log in instead.'
        : `Could not create the account. ${error.message}`;
      announceError(message);
      showFieldErrors(form, error.fieldErrors);
    }
  });
  return h('section', { class: 'card' }, h('h2', { id: 'register-heading', text: 'Create an account' }), form);
}

export function renderAuth(main, { onSignedIn }) {
  const login = loginForm(onSignedIn);
  main.replaceChildren(h('div', { class: 'auth-grid' }, login, registerForm(login)));
}
