'use strict';

document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('enroll-form');
  const status = document.getElementById('status');
  if (!authd.supported()) {
    authd.show(status, 'This browser cannot use security keys here. Use a current Chrome, Edge, Firefox or Safari.', 'error');
    form.querySelector('button').disabled = true;
    return;
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = document.getElementById('enroll');
    button.disabled = true;
    try {
      authd.show(status, 'Preparing…');
      const username = document.getElementById('username').value.trim();
      const started = await authd.post('/v1/webauthn/registration/options', {
        username,
        enrollment_code: document.getElementById('code').value.trim(),
        resident_key: document.getElementById('resident').checked ? 'required' : 'discouraged',
      });
      authd.show(status, 'Touch your key now.', 'prompt');
      const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(started.publicKey);
      const credential = await navigator.credentials.create({ publicKey });
      authd.show(status, 'Checking…');
      const done = await authd.post('/v1/webauthn/registration/verify', {
        ceremony: started.ceremony,
        credential: credential.toJSON(),
        nickname: document.getElementById('nickname').value.trim(),
      });
      const c = done.credential;
      authd.fill(document.getElementById('credential'), [
        ['Key', c.nickname || '(no name)'], ['Credential id', c.id], ['Model (AAGUID)', c.aaguid],
        ['Attestation', `${c.fmt} / ${c.attestation_type}`], ['Algorithm', c.alg],
        ['Transports', c.transports.length ? c.transports : ['(not reported)']],
        ['Sign in without username', c.discoverable ? 'yes' : 'no'], ['Registered', c.created_at],
      ]);
      document.getElementById('result').hidden = false;
      form.hidden = true;
      authd.show(status, 'Done.', 'ok');
    } catch (error) {
      authd.show(status, authd.explain(error), 'error');
    } finally {
      button.disabled = false;
    }
  });
});
