#!/usr/bin/python3
"""Ingest throughput with and without the event journal (docs/benchmarks.md).

    /usr/bin/python3 tools/bench/journal_ingest.py [BUILD_DIR]

Starts BUILD_DIR/server/ttboost-server three times (--journal no, the default
journal with fdatasync, --journal-sync no) on a data dir in $TMPDIR, and posts
gifts over one keep-alive connection: 2000 requests of one event, then 200
requests of 100. Each request is answered 202 before the next is sent.
"""
import http.client, json, os, subprocess, sys, time, tempfile, re
B=(sys.argv[1] if len(sys.argv) > 1 else 'build') + '/server'
def run(flags, n=2000, batch=1):
    d=tempfile.mkdtemp(prefix='ttb-bench-')
    p=subprocess.Popen([B+'/ttboost-server','--listen','127.0.0.1:0','--data-dir',d,'--tiktok','off']+flags,stdout=subprocess.PIPE,stderr=subprocess.STDOUT,text=True,
                       env=dict(os.environ, TTBOOST_INGEST_SECRET='s3cret'))
    port=None
    while port is None:
        l=p.stdout.readline()
        m=re.search(r'listening on http://127.0.0.1:(\d+)',l)
        if m: port=int(m.group(1))
    out=subprocess.run([B+'/ttboost-admin','--data-dir',d,'license','create'],capture_output=True,text=True).stdout.strip().splitlines()[-1]
    c=http.client.HTTPConnection('127.0.0.1',port)
    c.request('POST','/auth/login',json.dumps({'license_key':out}),{'Content-Type':'application/json'})
    user=json.loads(c.getresponse().read())['user_id']
    ev=lambda i: {'channel':user,'type':'gift','user':'u','gift_name':'Rose','count':1}
    t0=time.time()
    for i in range(n//batch):
        body=json.dumps([ev(i) for _ in range(batch)]) if batch>1 else json.dumps(ev(i))
        c.request('POST','/ingest/events',body,{'Content-Type':'application/json','Authorization':'Bearer s3cret'})
        r=c.getresponse(); r.read(); assert r.status==202, r.status
    dt=time.time()-t0
    p.terminate(); p.wait()
    subprocess.run(['rm','-rf',d])
    return n/dt, dt/(n//batch)*1000
for flags,name in [(['--journal','no'],'journal off'),([],'journal on (fdatasync)'),(['--journal-sync','no'],'journal, no fdatasync')]:
    for batch in (1,100):
        ev_s, ms = run(flags, 2000 if batch==1 else 20000, batch)
        print(f'{name:26s} batch {batch:3d}: {ev_s:8.0f} events/s, {ms:6.2f} ms per request')
