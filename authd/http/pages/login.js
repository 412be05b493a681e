'use strict';

function decodeClaims(token) {
  const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(atob(part));
}

authd.wire('login-form', 'login', async (form, status) => {
  authd.show(status, 'Preparing…');
  const username = document.getElementById('username').value.trim();
  const started = await authd.post('/v1/webauthn/authentication/options', username ? { username } : {});
  authd.show(status, 'Touch your key now.', 'prompt');
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(started.publicKey);
  const credential = await navigator.credentials.get({ publicKey });
  authd.show(status, 'Checking…');
  const result = await authd.post('/v1/webauthn/authentication/verify', {
    ceremony: started.ceremony,
    credential: credential.toJSON(),
  });
  showResult(result, status);
});

// A YubiKey types 32-48 modhex characters; an app code is 6 or 8 digits.
authd.wire('otp-form', 'otp-login', async (form, status) => {
  authd.show(status, 'Checking…');
  const code = document.getElementById('otp').value.trim();
  const result = /^[cbdefghijklnrtuv]{32,48}$/.test(code)
    ? await authd.post('/v1/yubiotp/verify', { otp: code })
    : await authd.post('/v1/totp/verify', { username: document.getElementById('otp-username').value.trim(), code });
  showResult(result, status);
}, { webauthn: false });

function showResult(result, status) {
  const claims = decodeClaims(result.access_token);
  authd.fill(document.getElementById('claims'), [
    ['User', result.user.username], ['Methods (amr)', result.amr], ['Key', result.credential_id],
    ['Expires', new Date(claims.exp * 1000).toISOString()], ['Audience', claims.aud], ['Token id (jti)', claims.jti],
  ]);
  document.getElementById('token').textContent = result.access_token;
  document.getElementById('result').hidden = false;
  authd.show(status, `Welcome, ${result.user.username}.`, 'ok');
}
