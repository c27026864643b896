"""Start-to-ready of an orchestrator binary on a quiet machine: spawn it, poll /health/ready
every millisecond until it answers 200, stop it; repeat. Prints the median and the slowest.
Usage: python3 docs/benchmarks/start-to-ready.py BINARY COUNT [REDIS_URL]  (uses port 3990)"""
import subprocess, socket, time, os, sys
def ready(port):
    try:
        s=socket.create_connection(("127.0.0.1",port),timeout=1)
        s.sendall(b"GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        d=s.recv(100); s.close(); return d.startswith(b"HTTP/1.1 200")
    except OSError: return False
res=[]
for i in range(int(sys.argv[2])):
    env=dict(os.environ, PORT="3990", GRPC_PORT="3991", RUST_LOG="warn")
    if len(sys.argv)>3: env["REDIS_URL"]=sys.argv[3]
    t=time.perf_counter(); p=subprocess.Popen([sys.argv[1]],env=env,stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
    while not ready(3990): time.sleep(0.001)
    res.append((time.perf_counter()-t)*1000)
    p.terminate(); p.wait()
res.sort(); print("n",len(res),"median %.1f"%res[len(res)//2],"max",["%.1f"%x for x in res[-4:]])
