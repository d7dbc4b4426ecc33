// The pure-echo variant of the classic Node.js example servers (see classic.js):
// the same code without the prefixes, so it can be compared with the other
// servers in pure-echo mode. Like the classic server it writes each chunk back
// as it arrives and ignores socket.write()'s return value (no backpressure),
// which is what the examples do.
//
// Usage: node echo.js HOST TCP_PORT UDP_PORT   (a port of '-': no such server)
'use strict';
const net = require('net');
const dgram = require('dgram');

const [host, tcpPort, udpPort] = [process.argv[2], process.argv[3], process.argv[4]];

const server = net.createServer((socket) => {
  socket.on('data', (data) => {
    socket.write(data);
  });
  socket.on('error', () => {}); // the one addition: a client's reset must not end the process
});
if (tcpPort !== '-') server.listen(Number(tcpPort), host);

const udp = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
udp.on('message', (msg, rinfo) => {
  udp.send(msg, rinfo.port, rinfo.address);
});
if (udpPort !== '-') udp.bind(Number(udpPort), host);

process.on('SIGTERM', () => process.exit(0));
