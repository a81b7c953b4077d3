import type { ServerDeps } from '../../deps.ts';
import type { ConnectSession } from '../../../db/sessions.ts';

/** `{data:{token, connect_link, expires_at}}`: the link opens Tether's Connect UI standalone. */
export function sessionCreated(deps: ServerDeps, token: string, session: ConnectSession) {
  return {
    status: 201,
    body: {
      data: {
        token,
        connect_link: `${deps.config.publicUrl}/connect/?session_token=${token}`,
        expires_at: session.expiresAt,
      },
    },
  };
}
