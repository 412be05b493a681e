// Shared helpers for the hosted pages: JSON calls to authd and the browser's WebAuthn JSON
// helpers (PublicKeyCredential.parse*OptionsFromJSON and toJSON), nothing hand-rolled.
'use strict';

window.authd = {
  async post(path, body) {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit',
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(data.detail || data.title || `request failed (${response.status})`);
      error.code = data.code;
      throw error;
    }
    return data;
  },

  supported() {
    return window.PublicKeyCredential &&
      typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function';
  },

  show(element, text, kind) {
    element.textContent = text;
    element.className = kind || '';
  },

  fill(list, entries) {
    list.replaceChildren();
    for (const [name, value] of entries) {
      const dt = document.createElement('dt');
      dt.textContent = name;
      const dd = document.createElement('dd');
      dd.textContent = Array.isArray(value) ? value.join(', ') : String(value);
      list.append(dt, dd);
    }
  },

  // Wires a page's form: refuses politely where WebAuthn is missing (unless the form does not
  // need it), and runs `ceremony` on submit with the button disabled and any failure explained
  // in the status line.
  wire(formId, buttonId, ceremony, { webauthn = true } = {}) {
    document.addEventListener('DOMContentLoaded', () => {
      const form = document.getElementById(formId);
      const status = document.getElementById('status');
      const button = document.getElementById(buttonId);
      if (webauthn && !authd.supported()) {
        authd.show(status, 'This browser cannot use security keys here. Use a current Chrome, Edge, Firefox or Safari.', 'error');
        button.disabled = true;
        return;
      }
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        button.disabled = true;
        try {
          await ceremony(form, status);
        } catch (error) {
          authd.show(status, authd.explain(error), 'error');
        } finally {
          button.disabled = false;
        }
      });
    });
  },

  explain(error) {
    if (error.name === 'NotAllowedError') return 'The key was not touched in time, or the request was cancelled. Try again.';
    if (error.name === 'InvalidStateError') return 'This key is already registered for you.';
    if (error.code === 'invalid_enrollment_code') return 'That enrolment code is not valid for this username. Check both, or ask for a new code.';
    if (error.code === 'challenge_expired') return 'That took too long. Start again.';
    if (error.code === 'otp_invalid') return 'That code is not valid. Check your app\'s clock and type the newest code.';
    if (error.code === 'otp_replayed') return 'That code was used already. Wait for the next one.';
    if (error.code === 'otp_format') return 'Type only the digits your app shows, or touch your YubiKey in the field.';
    if (error.code === 'rate_limited') return 'Too many attempts from here. Wait a moment and try again.';
    return error.message || String(error);
  },
};
