// The classic Node.js example servers, as scripts/bench runs them: a TCP server
// answering 'Confirm data: ' + data and a UDP server answering
// 'confirmation message' + msg, both in one process so that one PID carries the
// CPU time and RSS. Nothing here is tuned: this is the code the examples show.
//
// Usage: node classic.js HOST TCP_PORT UDP_PORT   (a port of '-': no such server)
'use strict';
const net = require('net');
const dgram = require('dgram');

const [host, tcpPort, udpPort] = [process.argv[2], process.argv[3], process.argv[4]];

const server = net.createServer((socket) => {
  socket.on('data', (data) => {
    socket.write('Confirm data: ' + data);
  });
  socket.on('error', () => {}); // the one addition: a client's reset must not end the process
});
if (tcpPort !== '-') server.listen(Number(tcpPort), host);

const udp = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
udp.on('message', (msg, rinfo) => {
  udp.send('confirmation message' + msg, rinfo.port, rinfo.address);
});
if (udpPort !== '-') udp.bind(Number(udpPort), host);

process.on('SIGTERM', () => process.exit(0));
