"""Tree-sitter query files (daemon/index/queries/<language>.scm) for the non-core languages.

Independent of the extractor: a small helper runs each query over a sample written for
the test and interprets the captures by the convention the extractor uses
(@definition.<kind> + @name [+ @receiver / @docstring], @scope + @scope.name,
@reference.<kind>, @import + @import.module).  A capture holding several nodes spans
from the first node's start to the last node's end; references whose node is also a
definition's @name are dropped; nesting comes from node containment, and a function
directly inside a class/struct/interface/trait or a @scope becomes a method; for
languages with LanguageSpec.merge_clauses, consecutive equal definitions (clauses of
one function) are one; C's `<stdio.h>` import is `stdio.h`.  The real extractor is
run on the same cases in tests/test_extract.py.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

from axd.daemon.index.languages import LANGUAGES as REGISTRY
from axd.daemon.records import SYMBOL_KINDS

tree_sitter = pytest.importorskip("tree_sitter")
language_pack = pytest.importorskip("tree_sitter_language_pack")

QUERY_DIR = Path(__file__).resolve().parent.parent / "daemon" / "index" / "queries"
CONTAINERS = {"class", "struct", "interface", "trait", "scope"}


@dataclass
class Def:
    kind: str
    node: tuple[int, int]
    name: str
    name_span: tuple[int, int]
    receiver: str | None
    docstring: str | None


@dataclass
class Result:
    defs: list[tuple[str, str, str | None]]
    raw_defs: list[Def]
    imports: list[str]
    refs: list[tuple[str, str]]


@functools.cache
def _query(lang: str) -> object:
    source = (QUERY_DIR / f"{lang}.scm").read_text(encoding="utf-8")
    return tree_sitter.Query(language_pack.get_language(lang), source)


def _span(nodes: list) -> tuple[int, int]:
    return (min(n.start_byte for n in nodes), max(n.end_byte for n in nodes))


def collect(lang: str, text: str) -> Result:
    src = text.encode()
    tree = language_pack.get_parser(lang).parse(src)
    raw: list[Def] = []
    scopes: list[tuple[tuple[int, int], str]] = []
    imports: list[str] = []
    refs: list[tuple[str, object]] = []
    for _, caps in tree_sitter.QueryCursor(_query(lang)).matches(tree.root_node):
        kinds = [k for k in caps if k.startswith("definition.")]
        if kinds:
            name = caps["name"][0]
            recv = caps.get("receiver")
            doc = caps.get("docstring")
            raw.append(
                Def(
                    kind=kinds[0].split(".", 1)[1],
                    node=_span(caps[kinds[0]]),
                    name=name.text.decode(),
                    name_span=(name.start_byte, name.end_byte),
                    receiver=recv[0].text.decode() if recv else None,
                    docstring=doc[0].text.decode() if doc else None,
                )
            )
        elif "scope" in caps:
            scopes.append((_span(caps["scope"]), caps["scope.name"][0].text.decode()))
        if "import" in caps and "import.module" in caps:
            start, end = _span(caps["import.module"])
            module = src[start:end].decode().strip()
            if module.startswith("<") and module.endswith(">"):
                module = module[1:-1]
            imports.append(module.strip("\"'"))
        for key, nodes in caps.items():
            if key.startswith("reference."):
                refs.extend((key.split(".", 1)[1], n) for n in nodes)
    names = {d.name_span for d in raw}
    containers = [(d.node, d.name, d.kind) for d in raw] + [
        (s, n, "scope") for s, n in scopes
    ]
    defs = []
    for d in raw:
        best = None
        for span, name, kind in containers:
            if (
                span == d.node
            ):  # the same node (or several names sharing one) never nests
                continue
            inside = span[0] <= d.node[0] and d.node[1] <= span[1]
            if inside and (best is None or span[1] - span[0] < best[0][1] - best[0][0]):
                best = (span, name, kind)
        parent, kind = d.receiver, d.kind
        if parent is None and best is not None:
            parent = best[1]
            if kind == "function" and best[2] in CONTAINERS:
                kind = "method"
        entry = (d.name, kind, parent)
        if REGISTRY[lang].merge_clauses and defs and defs[-1] == entry:
            continue  # another clause of the same function
        defs.append(entry)
    kept = [
        (k, n.text.decode())
        for k, n in refs
        if (n.start_byte, n.end_byte) not in names  # type: ignore[attr-defined]
    ]
    return Result(defs=defs, raw_defs=raw, imports=imports, refs=kept)


SAMPLES: dict[str, str] = {
    "c": r"""#include <stdio.h>
#include "util/list.h"
#define MAX_ITEMS 64
#define SQUARE(x) ((x) * (x))
typedef unsigned long size_type;
typedef struct { int x; int y; } point_t;
typedef struct node { struct node *next; int value; } node_t;
typedef void (*handler_t)(int code);
enum color { RED, GREEN = 2 };
union number { int i; float f; };
static int counter = 0;
const char *names[4];
int *make_buffer(size_t n);
static int add(int a, int b) { return a + b; }
char **split(const char *s) { return NULL; }
int main(int argc, char **argv) {
    node_t *n = malloc(sizeof(node_t));
    printf("%d\n", add(1, 2));
    n->next = list_next(n);
    return 0;
}
""",
    "cpp": r"""#include <vector>
#include "engine/config.h"
#define LOG(x) log_impl(x)
namespace engine {
namespace detail { int helper(int x) { return x; } }
class Config : public Base {
public:
    Config();
    ~Config();
    bool validate() const { return check(name_); }
    static Config load(const std::string& path);
    template <typename T> T get(const char* key) const;
    int operator[](int i) const;
private:
    std::string name_;
    int count_ = 0;
};
struct Point { double x, y; double norm() const; };
enum class Mode { Fast, Slow };
using Handle = std::shared_ptr<Config>;
typedef int score_t;
template <typename T>
class Stack { public: void push(const T& v) { items_.push_back(v); } std::vector<T> items_; };
Config::Config() : name_("x") {}
Config::~Config() {}
Config Config::load(const std::string& path) {
    Config c;
    c.validate();
    return parse_config(path);
}
double Point::norm() const { return std::sqrt(x * x + y * y); }
int Config::operator[](int i) const { return i; }
template <typename T> T Config::get(const char* key) const { return T(); }
}
void engine::detail::free_fn() {}
int main() { engine::Config::load("a"); auto s = Stack<int>(); s.push(1); return 0; }
""",
    "csharp": r"""using System;
using System.Text;
using IO = System.IO;
namespace Acme.Billing
{
    public interface IInvoice { decimal Total { get; } void Send(string to); }
    public enum Status { Draft, Paid }
    public struct Money { public decimal Amount; }
    public record Line(string Sku, int Qty);
    public delegate void Notify(string msg);
    public class Invoice : IInvoice
    {
        public const int MaxLines = 100;
        private readonly List<Line> _lines = new();
        public decimal Total { get; private set; }
        public event EventHandler Changed;
        public Invoice(Status s) { Status = s; }
        public void Send(string to) { var sb = new StringBuilder(); Mailer.Deliver(to, sb.ToString()); Log("sent"); }
        private static void Log(string m) => Console.WriteLine(m);
        public class Nested { }
    }
}
namespace Other;
class X { }
""",
    "ruby": r"""require "json"
require_relative "lib/helpers"
module Billing
  VERSION = "1.0"
  class Invoice < Base
    include Comparable
    attr_reader :lines
    def initialize(lines)
      @lines = lines
    end
    def total
      lines.sum { |l| l.price }.round(2)
    end
    def self.load(path)
      new(JSON.parse(File.read(path)))
    end
    class << self
      def build; end
    end
    def paid? = true
  end
end
def top_level(x)
  puts x
end
class Billing::Receipt; end
""",
    "php": r"""<?php
namespace App\Billing;

use App\Models\Invoice;
use Psr\Log\{LoggerInterface, NullLogger};
require_once 'vendor/autoload.php';
include __DIR__ . '/helpers.php';

const VERSION = '1.0';

interface Payable { public function pay(float $amount): bool; }

trait Loggable {
    protected $logger;
    public function log(string $msg): void { $this->logger->info($msg); }
}

enum Status: string { case Draft = 'draft'; case Paid = 'paid'; }

abstract class Service extends Base implements Payable {
    use Loggable;
    const MAX = 10;
    private array $items = [];
    public function __construct(private Invoice $invoice) {}
    public function pay(float $amount): bool {
        $total = compute_total($this->items);
        return self::check($total) && Invoice::find(1);
    }
    public static function check($x) { return new Invoice(); }
}

function compute_total(array $items): float { return array_sum($items); }
""",
    "kotlin": r"""package com.acme.billing

import kotlin.math.max
import com.acme.util.*
import java.io.File as JFile

const val MAX_LINES = 100
val defaultName: String = "x"

interface Payable { fun pay(amount: Double): Boolean }

data class Line(val sku: String, val qty: Int)

enum class Status { DRAFT, PAID }

object Registry {
    val items = mutableListOf<Line>()
    fun register(line: Line) { items.add(line) }
}

class Invoice(private val lines: List<Line>) : Payable {
    var status: Status = Status.DRAFT
    override fun pay(amount: Double): Boolean = max(amount, total()) > 0
    fun total(): Double { return lines.sumOf { it.qty.toDouble() } }
    companion object { fun empty() = Invoice(emptyList()) }
}

typealias Lines = List<Line>

fun Invoice.describe(): String = "invoice"

fun main() { val inv = Invoice.empty(); println(inv.describe()) }
""",
    "swift": r"""import Foundation
import struct Darwin.size_t

protocol Payable {
    func pay(amount: Double) -> Bool
    var total: Double { get }
}

enum Status: String { case draft, paid }

struct Line { let sku: String; var qty: Int }

final class Invoice: Payable {
    static let maxLines = 100
    private(set) var lines: [Line] = []
    init(lines: [Line]) { self.lines = lines }
    var total: Double { lines.reduce(0) { $0 + Double($1.qty) } }
    func pay(amount: Double) -> Bool { return validate(amount) && Ledger.shared.post(amount) }
    private func validate(_ x: Double) -> Bool { x > 0 }
}

extension Invoice {
    func describe() -> String { "invoice" }
}

typealias Lines = [Line]
let defaultCurrency = "EUR"
func makeInvoice() -> Invoice { Invoice(lines: []) }
actor Counter { func inc() {} }
""",
    "scala": r"""package com.acme.billing

import scala.collection.mutable
import com.acme.util.{Money, Rates => R}
import java.io._

trait Payable { def pay(amount: Double): Boolean }

case class Line(sku: String, qty: Int)

sealed abstract class Shape
object Invoice {
  val MaxLines = 100
  def empty: Invoice = new Invoice(Nil)
}

class Invoice(val lines: List[Line]) extends Payable with Serializable {
  var status: String = "draft"
  def pay(amount: Double): Boolean = validate(amount) && Ledger.post(amount)
  private def validate(x: Double): Boolean = x > 0
  type Amount = Double
}

enum Color { case Red, Green }
def topLevel(x: Int): Int = x + 1
given ord: Ordering[Line] = Ordering.by(_.sku)
""",
    "elixir": r'''defmodule Billing.Invoice do
  @moduledoc "Invoices."
  alias Billing.{Line, Money}
  import Ecto.Query, only: [from: 2]
  require Logger
  use GenServer

  @max_lines 100

  defstruct [:lines, status: :draft]

  @doc """
  Computes the total.
  """
  def total(%__MODULE__{lines: lines}), do: Enum.reduce(lines, 0, &add/2)

  def total(_), do: 0

  defp add(line, acc) do
    Logger.debug("adding")
    acc + Money.amount(line)
  end

  defmacro log(msg), do: quote(do: IO.puts(unquote(msg)))
  defguard is_small(x) when x < 10
  defprotocol Printable do
    def print(data)
  end
end
''',
    "dart": r"""import 'dart:async';
import 'package:billing/line.dart' as line;
export 'src/money.dart';
part 'invoice.g.dart';

const maxLines = 100;
final defaultName = 'x';

abstract class Payable { bool pay(double amount); }

mixin Loggable { void log(String msg) => print(msg); }

enum Status { draft, paid }

class Invoice extends Base with Loggable implements Payable {
  final List<Line> lines;
  Status status = Status.draft;
  Invoice(this.lines);
  Invoice.empty() : lines = [];
  @override
  bool pay(double amount) { return validate(amount) && Ledger.post(amount); }
  double get total => lines.fold(0, (a, l) => a + l.price);
  static Invoice parse(String s) => Invoice([]);
}

extension Describe on Invoice { String describe() => 'invoice'; }

typedef Handler = void Function(Invoice);

Future<void> main() async { final i = Invoice.empty(); i.pay(1); }
""",
    "bash": r"""#!/usr/bin/env bash
source ./lib/common.sh
. "$HOME/.config/axd.sh"
readonly VERSION=1.0
export AXD_HOME=/opt/axd
count=0
function build() {
  local target="$1"
  log_info "building $target"
  make -C "$target" all
}
deploy() { build "$@"; rsync -a out/ host:/srv/; }
main() { deploy prod; }
main "$@"
""",
    "lua": r"""local json = require("cjson")
local util = require "app.util"
local M = {}
M.VERSION = "1.0"
local MAX = 10

local function helper(x)
  return util.clamp(x, 0, MAX)
end

function M.total(lines)
  local sum = 0
  for _, l in ipairs(lines) do sum = sum + helper(l.price) end
  return sum
end

function M:describe()
  return self.name:upper()
end

M.parse = function(s) return json.decode(s) end
local render = function(x) print(x) end

function global_fn() end
function a.b.c() end
return M
""",
    "haskell": r"""module Billing.Invoice (Invoice(..), total) where

import Data.Map (Map)
import qualified Data.Text as T

data Invoice = Invoice { lines :: [Line], status :: Status }
newtype Money = Money Int
type Lines = [Line]

class Payable a where
  pay :: a -> Double -> Bool

instance Payable Invoice where
  pay inv x = x > 0

total :: Invoice -> Double
total inv = sum (map price (lines inv))

helper x = T.pack (show x)
helper2 0 = 1
helper2 n = n * helper2 (n - 1)
""",
    "ocaml": r"""open Printf
open Core.Std
module M = Map.Make(String)

type status = Draft | Paid
type invoice = { lines : line list; status : status }

exception Invalid of string

let max_lines = 100

let total inv = List.fold_left (fun acc l -> acc +. l.price) 0.0 inv.lines

let rec fact n = if n = 0 then 1 else n * fact (n - 1)

module Ledger = struct
  let post amount = printf "%f" amount
  module type S = sig val x : int end
end

class counter = object
  val mutable n = 0
  method incr = n <- n + 1
end

let () = Ledger.post (total { lines = []; status = Draft })
""",
    "zig": r"""const std = @import("std");
const util = @import("util.zig");
pub const max_lines: usize = 100;
var counter: u32 = 0;

pub const Invoice = struct {
    lines: []Line,
    pub fn total(self: *const Invoice) f64 {
        return util.sum(self.lines);
    }
    const Inner = enum { a, b };
};

const Status = enum { draft, paid };
const Value = union(enum) { int: i64, float: f64 };
const Err = error{ Invalid, Missing };

fn helper(x: i32) i32 { return x + 1; }

pub fn main() !void {
    const inv = Invoice{ .lines = &.{} };
    std.debug.print("{d}\n", .{inv.total()});
    _ = helper(1);
}
test "total works" { try std.testing.expect(true); }
""",
    "elm": r"""module Billing.Invoice exposing (Invoice, total, Status(..))

import Html exposing (Html, div, text)
import Dict as D

type Status = Draft | Paid

type alias Invoice = { lines : List Line, status : Status }

maxLines : Int
maxLines = 100

total : Invoice -> Float
total inv =
    List.sum (List.map .price inv.lines)

view : Invoice -> Html msg
view inv = div [] [ text (String.fromFloat (total inv)) ]

helper x = x + 1

port sendInvoice : String -> Cmd msg
""",
    "erlang": r"""-module(billing).
-export([total/1, new/0]).
-include("records.hrl").
-include_lib("kernel/include/file.hrl").
-define(MAX_LINES, 100).
-record(invoice, {lines = [], status = draft}).
-type status() :: draft | paid.

new() -> #invoice{}.

total(#invoice{lines = Lines}) ->
    lists:foldl(fun add/2, 0, Lines);
total(_) ->
    0.

add(L, Acc) -> Acc + price(L).
""",
    "clojure": r"""(ns billing.invoice
  (:require [clojure.string :as str]
            [billing.util :refer [clamp]])
  (:import (java.util Date)))

(def max-lines 100)

(defn total
  "Sum of line prices."
  [inv]
  (reduce + (map :price (:lines inv))))

(defn- helper [x] (str/upper-case (clamp x)))

(defmacro with-log [& body] `(do ~@body))

(defprotocol Payable (pay [this amount]))

(defrecord Invoice [lines status]
  Payable
  (pay [this amount] (> amount 0)))

(defmulti render :type)
""",
    "julia": r'''module Billing

using LinearAlgebra
using Statistics: mean
import Base: show
include("util.jl")

export Invoice, total

const MAX_LINES = 100

abstract type AbstractDoc end

"""
    Invoice(lines)

An invoice.
"""
struct Invoice <: AbstractDoc
    lines::Vector{Float64}
end

mutable struct Counter
    n::Int
end

"Sum of lines."
function total(inv::Invoice)
    return sum(inv.lines) + helper(1)
end

helper(x) = x + 1

macro logit(ex)
    return :(println($ex))
end

function Base.show(io::IO, inv::Invoice)
    print(io, "Invoice")
end

end
''',
    "r": r"""library(dplyr)
require("jsonlite")
source("R/utils.R")
MAX_LINES <- 100
total <- function(inv) {
  sum(vapply(inv$lines, price, numeric(1))) + helper(1)
}
helper = function(x) x + 1
Invoice <- setRefClass("Invoice", fields = list(lines = "list"))
print.invoice <- function(x, ...) cat("invoice\n")
dplyr::filter(df, x > 1)
""",
    "sql": r"""CREATE TABLE invoices (
  id INTEGER PRIMARY KEY,
  status TEXT NOT NULL
);
CREATE VIEW paid_invoices AS SELECT * FROM invoices WHERE status = 'paid';
CREATE INDEX idx_status ON invoices (status);
CREATE FUNCTION total(inv_id integer) RETURNS numeric AS $$ SELECT 1 $$ LANGUAGE sql;
SELECT count(*) FROM invoices JOIN lines ON lines.invoice_id = invoices.id;
""",
    "hcl": r"""terraform {
  required_version = ">= 1.5"
}
provider "aws" { region = var.region }
variable "region" { default = "eu-west-1" }
locals { name = "billing" }
resource "aws_s3_bucket" "invoices" {
  bucket = "${local.name}-invoices"
  tags   = merge(var.tags, { Name = "x" })
}
data "aws_iam_policy" "ro" { name = "ReadOnly" }
module "vpc" {
  source = "terraform-aws-modules/vpc/aws"
}
output "bucket_arn" { value = aws_s3_bucket.invoices.arn }
top_level = 1
""",
    "markdown": r"""# Billing

Intro text.

## Install `axd`

Steps.

Usage
-----

### Sub *one*

```python
def f(): pass
```

[link](docs/other.md)
""",
    "proto": r"""syntax = "proto3";
package acme.billing.v1;
import "google/protobuf/timestamp.proto";
import public "acme/common.proto";
option go_package = "x";

message Invoice {
  string id = 1;
  repeated Line lines = 2;
  google.protobuf.Timestamp created = 3;
  enum Status { DRAFT = 0; PAID = 1; }
  message Line { string sku = 1; }
  oneof payment { string card = 4; }
}

service Billing {
  rpc GetInvoice(GetInvoiceRequest) returns (Invoice);
  rpc Stream(stream Req) returns (stream Invoice) {}
}
""",
    "css": r"""@import url("reset.css");
@import "theme.css";
:root { --brand-color: #336699; --gap: 4px; }
.invoice-table { color: var(--brand-color); }
#main > .row { margin: 0; }
@keyframes fade-in { from { opacity: 0; } to { opacity: 1; } }
@media (max-width: 600px) { .row { display: block; } }
""",
    "scss": r"""@use "sass:math";
@import "variables";
$brand: #336699;
@mixin card($pad) { padding: $pad; }
@function double($x) { @return $x * 2; }
.invoice { @include card(4px); width: double(10px); --gap: 2px; }
%placeholder { color: red; }
""",
    "make": r"""include common.mk
-include local.mk
CC := gcc
OBJS = a.o b.o
.PHONY: all
all: build
build: $(OBJS)
	$(CC) -o app $(OBJS)
define greet
@echo hi
endef
""",
    "dockerfile": r"""FROM python:3.11-slim AS build
ARG VERSION=1
ENV APP_HOME=/app
RUN pip install x
FROM build
COPY --from=build /a /b
""",
}

EXPECTED_DEFS: dict[str, list[tuple[str, str, str | None]]] = {
    "c": [
        ("MAX_ITEMS", "macro", None),
        ("SQUARE", "macro", None),
        ("size_type", "type", None),
        ("x", "field", "point_t"),
        ("y", "field", "point_t"),
        ("point_t", "struct", None),
        ("node", "struct", None),
        ("next", "field", "node"),
        ("value", "field", "node"),
        ("node_t", "type", None),
        ("handler_t", "type", None),
        ("color", "enum", None),
        ("RED", "constant", "color"),
        ("GREEN", "constant", "color"),
        ("number", "struct", None),
        ("i", "field", "number"),
        ("f", "field", "number"),
        ("counter", "variable", None),
        ("names", "variable", None),
        ("add", "function", None),
        ("split", "function", None),
        ("main", "function", None),
    ],
    "cpp": [
        ("LOG", "macro", None),
        ("engine", "namespace", None),
        ("detail", "namespace", "engine"),
        ("helper", "function", "detail"),
        ("Config", "class", "engine"),
        ("validate", "method", "Config"),
        ("name_", "field", "Config"),
        ("count_", "field", "Config"),
        ("Point", "struct", "engine"),
        ("x", "field", "Point"),
        ("y", "field", "Point"),
        ("Mode", "enum", "engine"),
        ("Fast", "constant", "Mode"),
        ("Slow", "constant", "Mode"),
        ("Handle", "type", "engine"),
        ("score_t", "type", "engine"),
        ("Stack", "class", "engine"),
        ("push", "method", "Stack"),
        ("items_", "field", "Stack"),
        ("Config", "method", "Config"),
        ("~Config", "method", "Config"),
        ("load", "method", "Config"),
        ("norm", "method", "Point"),
        ("operator[]", "method", "Config"),
        ("get", "method", "Config"),
        ("free_fn", "method", "detail"),
        ("main", "function", None),
    ],
    "csharp": [
        ("Acme.Billing", "namespace", None),
        ("IInvoice", "interface", "Acme.Billing"),
        ("Total", "property", "IInvoice"),
        ("Send", "method", "IInvoice"),
        ("Status", "enum", "Acme.Billing"),
        ("Draft", "constant", "Status"),
        ("Paid", "constant", "Status"),
        ("Money", "struct", "Acme.Billing"),
        ("Amount", "field", "Money"),
        ("Line", "class", "Acme.Billing"),
        ("Notify", "type", "Acme.Billing"),
        ("Invoice", "class", "Acme.Billing"),
        ("MaxLines", "field", "Invoice"),
        ("_lines", "field", "Invoice"),
        ("Total", "property", "Invoice"),
        ("Changed", "field", "Invoice"),
        ("Invoice", "method", "Invoice"),
        ("Send", "method", "Invoice"),
        ("Log", "method", "Invoice"),
        ("Nested", "class", "Invoice"),
        ("Other", "namespace", None),
        ("X", "class", None),
    ],
    "ruby": [
        ("Billing", "module", None),
        ("VERSION", "constant", "Billing"),
        ("Invoice", "class", "Billing"),
        # attr_reader :lines (the raw capture; extract() stores `lines`)
        (":lines", "property", "Invoice"),
        ("initialize", "method", "Invoice"),
        ("total", "method", "Invoice"),
        ("load", "method", "Invoice"),
        ("build", "method", "Invoice"),
        ("paid?", "method", "Invoice"),
        ("top_level", "function", None),
        ("Receipt", "class", "Billing"),
    ],
    "php": [
        ("VERSION", "constant", None),
        ("Payable", "interface", None),
        ("pay", "method", "Payable"),
        ("Loggable", "trait", None),
        ("logger", "property", "Loggable"),
        ("log", "method", "Loggable"),
        ("Status", "enum", None),
        ("Draft", "constant", "Status"),
        ("Paid", "constant", "Status"),
        ("Service", "class", None),
        ("MAX", "constant", "Service"),
        ("items", "property", "Service"),
        ("__construct", "method", "Service"),
        ("pay", "method", "Service"),
        ("check", "method", "Service"),
        ("compute_total", "function", None),
    ],
    "kotlin": [
        ("MAX_LINES", "constant", None),
        ("defaultName", "variable", None),
        ("Payable", "interface", None),
        ("pay", "method", "Payable"),
        ("Line", "class", None),
        ("sku", "property", "Line"),
        ("qty", "property", "Line"),
        ("Status", "enum", None),
        ("DRAFT", "constant", "Status"),
        ("PAID", "constant", "Status"),
        ("Registry", "class", None),
        ("items", "property", "Registry"),
        ("register", "method", "Registry"),
        ("Invoice", "class", None),
        ("lines", "property", "Invoice"),
        ("status", "property", "Invoice"),
        ("pay", "method", "Invoice"),
        ("total", "method", "Invoice"),
        ("empty", "method", "Invoice"),
        ("Lines", "type", None),
        ("describe", "method", "Invoice"),
        ("main", "function", None),
    ],
    "swift": [
        ("Payable", "interface", None),
        ("pay", "method", "Payable"),
        ("total", "property", "Payable"),
        ("Status", "enum", None),
        ("draft", "constant", "Status"),
        ("paid", "constant", "Status"),
        ("Line", "struct", None),
        ("sku", "property", "Line"),
        ("qty", "property", "Line"),
        ("Invoice", "class", None),
        ("maxLines", "property", "Invoice"),
        ("lines", "property", "Invoice"),
        ("init", "method", "Invoice"),
        ("total", "property", "Invoice"),
        ("pay", "method", "Invoice"),
        ("validate", "method", "Invoice"),
        ("describe", "method", "Invoice"),
        ("Lines", "type", None),
        ("defaultCurrency", "constant", None),
        ("makeInvoice", "function", None),
        ("Counter", "class", None),
        ("inc", "method", "Counter"),
    ],
    "scala": [
        ("Payable", "trait", None),
        ("pay", "method", "Payable"),
        ("Line", "class", None),
        ("Shape", "class", None),
        ("Invoice", "module", None),
        ("MaxLines", "property", "Invoice"),
        ("empty", "method", "Invoice"),
        ("Invoice", "class", None),
        ("status", "property", "Invoice"),
        ("pay", "method", "Invoice"),
        ("validate", "method", "Invoice"),
        ("Amount", "type", "Invoice"),
        ("Color", "enum", None),
        ("Red", "constant", "Color"),
        ("Green", "constant", "Color"),
        ("topLevel", "function", None),
    ],
    "elixir": [
        ("Billing.Invoice", "module", None),
        ("max_lines", "constant", "Billing.Invoice"),
        ("total", "function", "Billing.Invoice"),
        ("total", "function", "Billing.Invoice"),
        ("add", "function", "Billing.Invoice"),
        ("log", "macro", "Billing.Invoice"),
        ("is_small", "macro", "Billing.Invoice"),
        ("Printable", "interface", "Billing.Invoice"),
        ("print", "method", "Printable"),
    ],
    "dart": [
        ("maxLines", "variable", None),
        ("defaultName", "variable", None),
        ("Payable", "class", None),
        ("pay", "method", "Payable"),
        ("Loggable", "trait", None),
        ("log", "method", "Loggable"),
        ("Status", "enum", None),
        ("draft", "constant", "Status"),
        ("paid", "constant", "Status"),
        ("Invoice", "class", None),
        ("lines", "field", "Invoice"),
        ("status", "field", "Invoice"),
        ("Invoice", "method", "Invoice"),
        ("empty", "method", "Invoice"),
        ("pay", "method", "Invoice"),
        ("total", "property", "Invoice"),
        ("parse", "method", "Invoice"),
        ("describe", "method", "Invoice"),
        ("Handler", "type", None),
        ("main", "function", None),
    ],
    "bash": [
        ("VERSION", "variable", None),
        ("AXD_HOME", "variable", None),
        ("count", "variable", None),
        ("build", "function", None),
        ("deploy", "function", None),
        ("main", "function", None),
    ],
    "lua": [
        ("M", "variable", None),
        ("MAX", "variable", None),
        ("helper", "function", None),
        ("total", "function", "M"),
        ("describe", "method", "M"),
        ("parse", "function", "M"),
        ("render", "function", None),
        ("global_fn", "function", None),
        ("c", "function", "b"),
    ],
    "haskell": [
        ("Invoice", "type", None),
        ("lines", "field", "Invoice"),
        ("status", "field", "Invoice"),
        ("Money", "type", None),
        ("Lines", "type", None),
        ("Payable", "interface", None),
        ("pay", "method", "Payable"),
        ("pay", "method", "Invoice"),
        ("total", "function", None),
        ("helper", "function", None),
        ("helper2", "function", None),
    ],
    "ocaml": [
        ("M", "module", None),
        ("status", "type", None),
        ("invoice", "type", None),
        ("Invalid", "type", None),
        ("max_lines", "variable", None),
        ("total", "function", None),
        ("fact", "function", None),
        ("Ledger", "module", None),
        ("post", "function", "Ledger"),
        ("S", "interface", "Ledger"),
        ("counter", "class", None),
        ("incr", "method", "counter"),
    ],
    "zig": [
        ("max_lines", "constant", None),
        ("counter", "variable", None),
        ("Invoice", "struct", None),
        ("lines", "field", "Invoice"),
        ("total", "method", "Invoice"),
        ("Inner", "enum", "Invoice"),
        ("Status", "enum", None),
        ("Value", "struct", None),
        ("int", "field", "Value"),
        ("float", "field", "Value"),
        ("Err", "constant", None),
        ("helper", "function", None),
        ("main", "function", None),
    ],
    "elm": [
        ("Status", "type", None),
        ("Invoice", "type", None),
        ("maxLines", "function", None),
        ("total", "function", None),
        ("view", "function", None),
        ("helper", "function", None),
        ("sendInvoice", "function", None),
    ],
    "erlang": [
        ("billing", "module", None),
        ("MAX_LINES", "macro", None),
        ("invoice", "struct", None),
        ("lines", "field", "invoice"),
        ("status", "field", "invoice"),
        ("status", "type", None),
        ("new", "function", None),
        ("total", "function", None),
        ("add", "function", None),
    ],
    "clojure": [
        ("billing.invoice", "module", None),
        ("max-lines", "variable", None),
        ("total", "function", None),
        ("helper", "function", None),
        ("with-log", "macro", None),
        ("Payable", "interface", None),
        ("Invoice", "class", None),
        ("render", "function", None),
    ],
    "julia": [
        ("Billing", "module", None),
        ("MAX_LINES", "constant", "Billing"),
        ("AbstractDoc", "type", "Billing"),
        ("Invoice", "struct", "Billing"),
        ("lines", "field", "Invoice"),
        ("Counter", "struct", "Billing"),
        ("n", "field", "Counter"),
        ("total", "function", "Billing"),
        ("helper", "function", "Billing"),
        ("logit", "macro", "Billing"),
        ("show", "function", "Base"),
    ],
    "r": [
        ("MAX_LINES", "variable", None),
        ("total", "function", None),
        ("helper", "function", None),
        ("Invoice", "class", None),
        ("print.invoice", "function", None),
    ],
    "sql": [
        ("invoices", "class", None),
        ("id", "field", "invoices"),
        ("status", "field", "invoices"),
        ("paid_invoices", "class", None),
        ("idx_status", "key", None),
        ("total", "function", None),
    ],
    "hcl": [
        ("aws", "class", None),
        ("region", "variable", None),
        ("name", "variable", None),
        ("invoices", "class", "aws_s3_bucket"),
        ("ro", "class", "aws_iam_policy"),
        ("vpc", "module", None),
        ("bucket_arn", "property", None),
        ("top_level", "key", None),
    ],
    "markdown": [
        ("Billing", "heading", None),
        ("Install `axd`", "heading", None),
        ("Usage", "heading", None),
        ("Sub *one*", "heading", None),
    ],
    "proto": [
        ("Invoice", "struct", None),
        ("id", "field", "Invoice"),
        ("lines", "field", "Invoice"),
        ("created", "field", "Invoice"),
        ("Status", "enum", "Invoice"),
        ("DRAFT", "constant", "Status"),
        ("PAID", "constant", "Status"),
        ("Line", "struct", "Invoice"),
        ("sku", "field", "Line"),
        ("card", "field", "Invoice"),
        ("Billing", "interface", None),
        ("GetInvoice", "method", "Billing"),
        ("Stream", "method", "Billing"),
    ],
    "css": [
        ("--brand-color", "variable", None),
        ("--gap", "variable", None),
        ("fade-in", "constant", None),
    ],
    "scss": [
        ("$brand", "variable", None),
        ("card", "macro", None),
        ("double", "function", None),
        ("--gap", "variable", None),
    ],
    "make": [
        ("CC", "variable", None),
        ("OBJS", "variable", None),
        ("all", "function", None),
        ("build", "function", None),
        ("greet", "macro", None),
    ],
    "dockerfile": [
        ("build", "module", None),
        ("VERSION", "variable", None),
        ("APP_HOME", "variable", None),
    ],
}

EXPECTED_IMPORTS: dict[str, list[str]] = {
    "c": ["stdio.h", "util/list.h"],
    "cpp": ["vector", "engine/config.h"],
    "csharp": ["System", "System.Text", "System.IO"],
    "ruby": ["json", "lib/helpers"],
    "php": ["App\\Models\\Invoice", "Psr\\Log", "vendor/autoload.php", "/helpers.php"],
    "kotlin": ["kotlin.math.max", "com.acme.util", "java.io.File"],
    "swift": ["Foundation", "Darwin.size_t"],
    "scala": ["scala.collection.mutable", "com.acme.util", "java.io"],
    "elixir": ["Billing", "Ecto.Query", "Logger", "GenServer"],
    "dart": [
        "dart:async",
        "package:billing/line.dart",
        "src/money.dart",
        "invoice.g.dart",
    ],
    "bash": ["./lib/common.sh", "$HOME/.config/axd.sh"],
    "lua": ["cjson", "app.util"],
    "haskell": ["Data.Map", "Data.Text"],
    "ocaml": ["Printf", "Core.Std"],
    "zig": ["std", "util.zig"],
    "elm": ["Html", "Dict"],
    "erlang": ["records.hrl", "kernel/include/file.hrl"],
    "clojure": ["clojure.string", "billing.util", "java.util"],
    "julia": ["LinearAlgebra", "Statistics", "Base", "util.jl"],
    "r": ["dplyr", "jsonlite", "R/utils.R"],
    "sql": [],
    "hcl": ["terraform-aws-modules/vpc/aws"],
    "markdown": [],
    "proto": ["google/protobuf/timestamp.proto", "acme/common.proto"],
    "css": ["reset.css", "theme.css"],
    "scss": ["sass:math", "variables"],
    "make": ["common.mk", "local.mk"],
    "dockerfile": ["python", "build"],
}

EXPECTED_CALLS: dict[str, list[str]] = {
    "c": ["malloc", "printf", "add"],
    "cpp": ["check", "push_back", "validate"],
    "csharp": ["Deliver", "ToString", "Log"],
    "ruby": ["require", "require_relative", "include"],
    "php": ["info", "compute_total", "check"],
    "kotlin": ["mutableListOf", "add", "max"],
    "swift": ["reduce", "validate", "post"],
    "scala": ["validate", "post", "by"],
    "elixir": ["reduce", "debug", "amount"],
    "dart": ["print", "validate", "post"],
    "bash": ["log_info", "make", "build"],
    "lua": ["clamp", "ipairs", "helper"],
    "haskell": ["sum", "map", "lines"],
    "ocaml": ["fold_left", "fact", "printf"],
    "zig": ["sum", "print", "total"],
    "elm": ["sum", "map", "div"],
    "erlang": ["foldl", "price"],
    "clojure": ["java.util", "reduce", "map"],
    "julia": ["include", "sum", "helper"],
    "r": ["sum", "vapply", "numeric"],
    "sql": ["count"],
    "hcl": ["merge"],
    "markdown": [],
    "proto": [],
    "css": [],
    "scss": ["card", "double"],
    "make": ["all", "build"],
    "dockerfile": [],
}

EXPECTED_REFERENCES: dict[str, list[str]] = {
    "c": ["node_t"],
    "cpp": ["Base", "Config"],
    "csharp": ["IInvoice", "List"],
    "ruby": ["Base", "Comparable"],
    "php": ["Base", "Payable"],
    "kotlin": ["String", "Double"],
    "swift": ["Double", "Bool"],
    "scala": ["Double", "Boolean"],
    "elixir": ["Enum", "Logger"],
    "dart": ["bool", "double"],
    "bash": [],
    "lua": [],
    "haskell": ["Invoice", "Map"],
    "ocaml": ["line", "list"],
    "zig": [],
    "elm": ["List", "Line"],
    "erlang": ["lists", "add"],
    "clojure": [],
    "julia": ["AbstractDoc", "Int"],
    "r": [],
    "sql": ["invoices", "lines"],
    "hcl": ["region", "name"],
    "markdown": [],
    "proto": ["Line", "Timestamp"],
    "css": ["invoice-table", "--brand-color"],
    "scss": ["invoice"],
    "make": ["OBJS", "CC"],
    "dockerfile": [],
}


LANGUAGES = sorted(SAMPLES)


def test_every_query_file_has_a_sample() -> None:
    mine = {
        "c",
        "cpp",
        "csharp",
        "ruby",
        "php",
        "kotlin",
        "swift",
        "scala",
        "elixir",
        "dart",
        "bash",
        "lua",
        "haskell",
        "ocaml",
        "zig",
        "elm",
        "erlang",
        "clojure",
        "julia",
        "r",
        "sql",
        "hcl",
        "markdown",
        "proto",
        "css",
        "scss",
        "make",
        "dockerfile",
    }
    assert mine == set(LANGUAGES)
    for lang in mine:
        assert (QUERY_DIR / f"{lang}.scm").is_file(), lang


@pytest.mark.parametrize("lang", LANGUAGES)
def test_query_compiles(lang: str) -> None:
    query = _query(lang)
    assert query.pattern_count > 0
    header = (QUERY_DIR / f"{lang}.scm").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith(";"), "each query file starts with a comment header"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_sample_parses_cleanly(lang: str) -> None:
    tree = language_pack.get_parser(lang).parse(SAMPLES[lang].encode())
    assert tree.root_node.child_count > 0


@pytest.mark.parametrize("lang", LANGUAGES)
def test_definitions(lang: str) -> None:
    result = collect(lang, SAMPLES[lang])
    missing = [d for d in EXPECTED_DEFS[lang] if d not in result.defs]
    assert not missing, f"missing {missing}; got {result.defs}"
    unexpected = [d for d in result.defs if d not in EXPECTED_DEFS[lang]]
    assert not unexpected, f"unexpected {unexpected}"
    # the @name node's text is exactly the name, and one definition per name node
    spans = [d.name_span for d in result.raw_defs]
    assert len(spans) == len(set(spans)), "a name node is captured by two patterns"
    src = SAMPLES[lang].encode()
    for d in result.raw_defs:
        assert src[d.name_span[0] : d.name_span[1]].decode() == d.name
        assert d.node[0] <= d.name_span[0] and d.name_span[1] <= d.node[1]
        assert d.kind in SYMBOL_KINDS


@pytest.mark.parametrize("lang", LANGUAGES)
def test_imports(lang: str) -> None:
    result = collect(lang, SAMPLES[lang])
    assert result.imports == EXPECTED_IMPORTS[lang]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_references(lang: str) -> None:
    result = collect(lang, SAMPLES[lang])
    calls = [name for kind, name in result.refs if kind == "call"]
    others = [name for kind, name in result.refs if kind == "reference"]
    for name in EXPECTED_CALLS[lang]:
        assert name in calls, (name, calls)
    for name in EXPECTED_REFERENCES[lang]:
        assert name in others, (name, others)
    assert all(kind in {"call", "reference", "import"} for kind, _ in result.refs)


def test_languages_with_calls_and_imports_capture_both() -> None:
    no_imports = {"sql", "markdown"}
    no_calls = {"markdown", "proto", "css", "dockerfile"}
    for lang in LANGUAGES:
        if lang not in no_imports:
            assert EXPECTED_IMPORTS[lang], lang
        if lang not in no_calls:
            assert EXPECTED_CALLS[lang], lang


@pytest.mark.parametrize(
    ("lang", "name", "fragment"),
    [
        ("elixir", "total", "Computes the total."),
        ("elixir", "Billing.Invoice", "Invoices."),
        ("julia", "total", "Sum of lines."),
        ("julia", "Invoice", "An invoice."),
        ("clojure", "total", "Sum of line prices."),
    ],
)
def test_docstrings(lang: str, name: str, fragment: str) -> None:
    result = collect(lang, SAMPLES[lang])
    docs = [d.docstring for d in result.raw_defs if d.name == name and d.docstring]
    assert docs and fragment in docs[0]


def test_cpp_out_of_line_method_has_receiver() -> None:
    result = collect("cpp", "void Foo::bar() {}\nint ns::Foo::baz() { return 0; }\n")
    assert result.defs == [("bar", "method", "Foo"), ("baz", "method", "Foo")]


def test_haskell_one_symbol_per_function() -> None:
    src = "f :: Int -> Int\nf 0 = 1\nf n = n\n\ng 0 = 0\ng n = n\n"
    result = collect("haskell", src)
    assert result.defs == [("f", "function", None), ("g", "function", None)]


def test_erlang_one_symbol_per_function() -> None:
    src = "-module(m).\nf(0) -> 1;\nf(N) -> N.\ng() -> ok.\n"
    result = collect("erlang", src)
    assert [d for d in result.defs if d[1] == "function"] == [
        ("f", "function", None),
        ("g", "function", None),
    ]


def test_markdown_headings_do_not_nest() -> None:
    result = collect("markdown", "# A\n\n## B\n\ntext\n")
    assert result.defs == [("A", "heading", None), ("B", "heading", None)]


def test_kotlin_enum_class_is_not_also_a_class() -> None:
    result = collect("kotlin", "private enum class E { X }\nclass C\n")
    assert result.defs == [
        ("E", "enum", None),
        ("X", "constant", "E"),
        ("C", "class", None),
    ]


def test_query_files_compile_for_alias_grammar_terraform() -> None:
    source = (QUERY_DIR / "hcl.scm").read_text(encoding="utf-8")
    tree_sitter.Query(language_pack.get_language("terraform"), source)
