-- Neovim's built-in LSP client attached to `axd lsp`: go to a definition and
-- list workspace symbols, then write what the server answered as JSON.
-- Driven by tests/test_lsp_nvim.py through environment variables; works with
-- Neovim 0.7 (vim.lsp.start_client) through 0.11+ (vim.lsp.start).
local env = vim.env

local function finish(result)
  local file = assert(io.open(env.AXD_NVIM_OUT, "w"))
  file:write(vim.fn.json_encode(result))
  file:close()
  vim.cmd("qall!")
end

local function request(bufnr, client_id, method, params)
  local answers, err = vim.lsp.buf_request_sync(bufnr, method, params, 30000)
  assert(answers, method .. ": " .. tostring(err))
  local answer = assert(answers[client_id], method .. ": no answer")
  assert(answer.err == nil and answer.error == nil, method .. ": " .. vim.inspect(answer))
  return answer.result
end

local ok, err = pcall(function()
  local root = env.AXD_NVIM_ROOT
  vim.cmd("edit " .. vim.fn.fnameescape(env.AXD_NVIM_FILE))
  local bufnr = vim.api.nvim_get_current_buf()
  local initialized = false
  local config = {
    name = "axd",
    cmd = vim.fn.json_decode(env.AXD_NVIM_CMD),
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = "repo" } },
    on_init = function() initialized = true end,
  }
  local client_id
  if vim.lsp.start then
    client_id = vim.lsp.start(config, { bufnr = bufnr })
  else
    client_id = vim.lsp.start_client(config)
    vim.lsp.buf_attach_client(bufnr, client_id)
  end
  assert(client_id, "the client did not start")
  assert(vim.wait(60000, function() return initialized end, 10), "initialize timed out")
  local position = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = tonumber(env.AXD_NVIM_LINE), character = tonumber(env.AXD_NVIM_CHARACTER) },
  }
  local client = vim.lsp.get_client_by_id(client_id)
  finish({
    definition = request(bufnr, client_id, "textDocument/definition", position),
    symbols = request(bufnr, client_id, "workspace/symbol", { query = env.AXD_NVIM_QUERY }),
    encoding = client.offset_encoding,
    version = vim.version(),
  })
end)
if not ok then
  finish({ error = tostring(err) })
end
