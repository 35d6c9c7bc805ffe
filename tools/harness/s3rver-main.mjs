// Runs s3rver in its own process (it needs --openssl-legacy-provider for ListObjectsV2
// continuation tokens). Prints "listening <port>" once ready; stops on SIGTERM. With a key
// and a certificate (PEM files) it serves HTTPS: pgBackRest speaks S3 over TLS only.
import { readFileSync } from 'node:fs';
import S3rver from 's3rver';

const [directory, port, keyFile, certFile] = process.argv.slice(2);
const tls = keyFile && certFile ? { key: readFileSync(keyFile), cert: readFileSync(certFile) } : {};
const server = new S3rver({ address: '127.0.0.1', port: Number(port ?? 0), silent: true, directory, ...tls });
const { port: actual } = await server.run();
process.stdout.write(`listening ${actual}\n`);
process.on('SIGTERM', () => server.close().finally(() => process.exit(0)));
