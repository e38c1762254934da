/**
 * Centrifugo v6's `grpc_api`: the GRPC server API (`CentrifugoApi`) on its own port, with the key
 * clients send as `authorization: apikey <KEY>` metadata.
 */
import { choice, flag, integer, section, text } from '@switchboard/config';

export const grpcApiSection = section({
  enabled: flag().default(false),
  address: text().default(''),
  port: integer({ max: 65535, example: 10000 }).default(10000),
  key: text().default(''),
  error_mode: choice(['', 'transport'], 'transport').default(''),
  reflection: flag().default(false),
  max_receive_message_size: integer({ example: 4194304 }).default(0),
  tls: section({
    enabled: flag().default(false),
    cert_pem: text().optional(),
    cert_pem_file: text().optional(),
    key_pem: text().optional(),
    key_pem_file: text().optional(),
    server_ca_pem: text().optional(),
    server_ca_pem_file: text().optional(),
    client_ca_pem: text().optional(),
    client_ca_pem_file: text().optional(),
    insecure_skip_verify: flag().optional(),
    server_name: text().optional(),
  }),
});

export interface GrpcApiConfig {
  enabled: boolean;
  address: string;
  port: number;
  key: string;
  error_mode: string;
  reflection: boolean;
  max_receive_message_size: number;
  tls: { enabled: boolean };
}

export function checkGrpcApi(g: GrpcApiConfig, report: (key: string, message: string) => void): void {
  if (!g.enabled) return;
  if (g.tls.enabled) report('grpc_api.tls.enabled', 'TLS for the GRPC API is not supported yet: terminate TLS in front of it');
  if (g.reflection) report('grpc_api.reflection', 'GRPC server reflection is not supported');
}
