// Request and response shapes: they validate requests and generate the OpenAPI document.
import { Type } from 'typebox';

const Email = Type.String({ minLength: 3, maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' });

export const Credentials = Type.Object(
  {
    email: Email,
    // Length is what makes a password strong; no composition rules (NIST SP 800-63B).
    password: Type.String({ minLength: 12, maxLength: 256 }),
  },
  { additionalProperties: false },
);
export const Login = Type.Object(
  { email: Email, password: Type.String({ minLength: 1, maxLength: 256 }) },
  { additionalProperties: false },
);
export const RefreshRequest = Type.Object(
  { refreshToken: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);
export const Registered = Type.Object({ email: Type.String() });
export const TokenPair = Type.Object({
  accessToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'seconds until the access token expires' }),
  refreshToken: Type.String(),
});
export const Me = Type.Object({
  id: Type.String({ format: 'uuid' }),
  email: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
});
