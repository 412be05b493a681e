# Shell helpers shared by scripts/bench.sh and scripts/bench-scale.sh (sourced, not run).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# start_static_nginx DIR PORT: nginx serving DIR/html on 127.0.0.1:PORT, prefix DIR, one worker
# (cheaper per request here than two: 22-26 against 26-36 µs), keep-alive without a request
# limit, no access log. Prints the worker's pid. Stop it with: nginx -p DIR -c nginx.conf -s stop
start_static_nginx() {
  local dir=$1 port=$2
  mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  keepalive_requests 100000000;
  client_body_temp_path $dir/tmp;
  proxy_temp_path $dir/tmp;
  fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp;
  scgi_temp_path $dir/tmp;
  server {
    listen 127.0.0.1:$port;
    root $dir/html;
  }
}
EOF
  nginx -p "$dir" -c nginx.conf
  for _ in $(seq 50); do [[ -s $dir/nginx.pid ]] && pgrep -P "$(cat "$dir/nginx.pid")" >/dev/null && break; sleep 0.1; done
  pgrep -P "$(cat "$dir/nginx.pid")" | paste -sd, -
}
