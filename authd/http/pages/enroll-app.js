'use strict';

let enrollment = null;

authd.wire('start-form', 'start', async (form, status) => {
  authd.show(status, 'Preparing…');
  const started = await authd.post('/v1/totp/enrollment', {
    username: document.getElementById('username').value.trim(),
    enrollment_code: document.getElementById('code').value.trim(),
  });
  enrollment = started.enrollment;
  // The SVG comes from authd; it is parsed as an image document, never as HTML.
  const svg = new DOMParser().parseFromString(started.qr_svg, 'image/svg+xml').documentElement;
  document.getElementById('qr').replaceChildren(document.importNode(svg, true));
  document.getElementById('secret').textContent = started.secret;
  form.hidden = true;
  document.getElementById('confirm-form').hidden = false;
  document.getElementById('totp').focus();
  authd.show(status, `Scan the code, then type the ${started.digits} digits your app shows.`, 'prompt');
}, { webauthn: false });

authd.wire('confirm-form', 'confirm', async (form, status) => {
  authd.show(status, 'Checking…');
  const done = await authd.post('/v1/totp/enrollment/confirm', {
    enrollment,
    code: document.getElementById('totp').value.trim(),
  });
  const c = done.credential;
  authd.fill(document.getElementById('credential'), [
    ['Credential id', c.id], ['Algorithm', c.algorithm], ['Digits', c.digits], ['Period', `${c.period} s`],
    ['Registered', c.created_at],
  ]);
  form.hidden = true;
  document.getElementById('result').hidden = false;
  authd.show(status, 'Done.', 'ok');
}, { webauthn: false });
