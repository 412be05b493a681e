// Verifies a JWT against a JWKS file with the `jose` library (an implementation independent of
// authd). Usage: node verify-jwt.mjs JWKS_FILE TOKEN ISSUER ALG
// Prints {"protectedHeader":...,"payload":...} and exits 0, or prints the error and exits 1.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify } from 'jose';

const [jwksFile, token, issuer, alg] = process.argv.slice(2);
const jwks = createLocalJWKSet(JSON.parse(readFileSync(jwksFile, 'utf8')));
try {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer,
    audience: issuer,
    algorithms: [alg],
    typ: 'at+jwt',
    requiredClaims: ['exp', 'iat', 'nbf', 'jti', 'sub', 'aud', 'iss'],
  });
  console.log(JSON.stringify({ protectedHeader, payload }));
} catch (e) {
  console.error(`verification failed: ${e.code || ''} ${e.message}`);
  process.exit(1);
}
