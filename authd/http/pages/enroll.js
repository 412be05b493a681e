'use strict';

authd.wire('enroll-form', 'enroll', async (form, status) => {
  authd.show(status, 'Preparing…');
  const started = await authd.post('/v1/webauthn/registration/options', {
    username: document.getElementById('username').value.trim(),
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
});
